/** Resolvers return store rows; field resolvers map them to the GraphQL shape. */
export default {
  contextType: '../context#Context',
  mappers: {
    Agent: '../store/agent-store#AgentRow',
    AgentRun: '../store/run-store#RunRow',
    Checkpoint: '../store/run-store#CheckpointRow',
    AgentStep: '../store/run-store#CheckpointRow',
    AgentUsage: '../store/run-store#RunRow',
    AgentRunClaim: '../commands/worker-protocol#Claim',
    AgentTaskSnapshot: '../store/known-task-store#KnownTaskRow',
    Task: '../resolvers/Task#TaskRef',
  },
};
