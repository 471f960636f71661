/** Resolvers return store rows; field resolvers map them to the GraphQL shape. */
export default {
  contextType: '../context#Context',
  mappers: {
    Agent: '../store/agent-store#AgentRow',
    AgentRun: '../store/run-store#RunRow',
    Checkpoint: '../store/run-store#CheckpointRow',
    Task: '../resolvers/Task#TaskRef',
  },
};
