import { parseId } from '@cos/service-kit';
import type { AgentRunResolvers } from '../__generated__/resolvers-types';
import { iso, requireRead } from './guards';

export const AgentRun: AgentRunResolvers = {
  __resolveReference: (ref, ctx) => {
    requireRead(ctx);
    return ctx.loaders.runById.load(parseId('id', ref.id));
  },
  agent: async (run, _a, ctx) => {
    const agent = await ctx.loaders.agentById.load(run.agent_id);
    if (!agent) throw new Error(`agent ${run.agent_id} of run ${run.id} is missing`);
    return agent;
  },
  task: (run) => ({ id: run.task_id }),
  lastHeartbeatAt: (run) => iso(run.last_heartbeat_at),
  checkpoints: (run, _a, ctx) => ctx.loaders.checkpointsByRun.load(run.id),
  createdAt: (run) => iso(run.created_at)!,
};
