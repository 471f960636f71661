import { parseId } from '@cos/service-kit';
import type {
  AgentRunClaimResolvers,
  AgentRunResolvers,
  AgentStepResolvers,
  AgentTaskSnapshotResolvers,
  AgentUsageResolvers,
} from '../__generated__/resolvers-types';
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
  leaseExpiresAt: (run) => (run.status === 'RUNNING' ? iso(run.lease_until) : null),
  workerId: (run) => (run.status === 'RUNNING' ? run.worker_id : null),
  claimableAt: (run) => (run.status === 'QUEUED' ? iso(run.not_before ?? run.updated_at) : null),
  checkpoints: (run, _a, ctx) => ctx.loaders.checkpointsByRun.load(run.id),
  steps: async (run, _a, ctx) => (await ctx.loaders.checkpointsByRun.load(run.id)).filter((c) => c.step !== null),
  usage: (run) => run,
  result: (run) => (run.status === 'SUCCEEDED' ? run.result : null),
  createdAt: (run) => iso(run.created_at)!,
};

export const AgentUsage: AgentUsageResolvers = {
  modelCalls: (r) => r.model_calls,
  toolCalls: (r) => r.tool_calls,
  promptTokens: (r) => Number(r.prompt_tokens),
  completionTokens: (r) => Number(r.completion_tokens),
  totalTokens: (r) => Number(r.prompt_tokens) + Number(r.completion_tokens),
  costUsd: (r) => Number(r.cost_usd),
};

/** A step is the `step` record of the checkpoint that ended it (checkpoints of older runs have none). */
export const AgentStep: AgentStepResolvers = {
  seq: (c) => c.seq,
  name: (c) => c.step!.name,
  startedAt: (c) => c.step!.startedAt,
  finishedAt: (c) => c.step!.finishedAt ?? iso(c.created_at),
  model: (c) => c.step!.model,
  prompt: (c) => c.step!.prompt,
  modelCalls: (c) => c.step!.modelCalls,
  tokens: (c) => c.step!.promptTokens + c.step!.completionTokens,
  promptTokens: (c) => c.step!.promptTokens,
  completionTokens: (c) => c.step!.completionTokens,
  costUsd: (c) => c.step!.costUsd,
  toolCalls: (c) => c.step!.toolCalls.map((t) => ({ ...t, result: t.result ?? null, error: t.error ?? null, durationMs: t.durationMs ?? null })),
};

export const AgentRunClaim: AgentRunClaimResolvers = {
  run: (c) => c.run,
  attempt: (c) => c.run.attempt,
  leaseExpiresAt: (c) => c.leaseExpiresAt.toISOString(),
  approval: (c) => c.approval,
};

export const AgentTaskSnapshot: AgentTaskSnapshotResolvers = {
  id: (t) => t.task_id,
  customerId: (t) => t.customer_id,
};
