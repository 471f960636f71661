import { actorOf } from '@cos/auth';
import type { Tx } from '@cos/db';
import type { EventMetadata } from '@cos/event-store';
import { badInput, conflict, leaseLost, notFound } from '@cos/errors';
import { checkApprovalRequest } from '@cos/events/approval-actions';
import { parseId, requireScope } from '@cos/service-kit';
import type { MutationResolvers } from '../__generated__/resolvers-types';
import { RunRejected, runStreamId, type RunState } from '../domain/agent-run';
import { executeRunCommand, queueRun } from '../commands/agent-commands';
import { checkpointRun, claimRun, fencedCommand, heartbeat, retryAt } from '../commands/worker-protocol';
import { eventStore } from '../projector';
import { getAgentInOrg } from '../store/agent-store';
import { getKnownTask } from '../store/known-task-store';
import { getCheckpointsByRunIds, getRunsByIds, type RunRow } from '../store/run-store';
import type { Context } from '../context';
import { requestMetadata } from './guards';
import { parseClaim, parseCheckpoint, parseCompletion, parseFailure, parseToken } from './worker-inputs';

/** The caller must be a worker (agents:work); its writes are scoped to its organization by row-level security. */
const requireWorker = (ctx: Context) => requireScope(ctx.principal, 'agents:work');

/** Events a worker's write causes: the run's own correlation id (one trace of the whole run), the request's trace. */
const workerMetadata =
  (ctx: Context) =>
  (s: RunState): EventMetadata => ({
    actor: actorOf(ctx.principal),
    correlationId: s.correlationId ?? ctx.correlationId,
    causationId: null,
    traceparent: ctx.traceparent,
  });

/** RunRejected → the contract's codes; anything else propagates (masked as INTERNAL_SERVER_ERROR). */
async function asRunError(ctx: Context, tx: Tx, runId: string, err: unknown): Promise<never> {
  if (!(err instanceof RunRejected)) throw err;
  // Row-level security hides other organizations' runs: they look exactly like missing ones.
  if (err.reason === 'missing') throw notFound('AgentRun', runId);
  if (err.reason === 'lease') {
    ctx.agentMetrics?.leasesLost.inc();
    throw leaseLost(runId, err.message);
  }
  throw conflict(`Cannot do this now: ${err.message}`, await eventStore.streamVersion(tx, runStreamId(runId)));
}

/**
 * Runs `fn` in a tenant transaction of the caller and answers the run's row. A rejection (decided before anything is
 * appended, so the transaction is still usable) becomes NOT_FOUND, LEASE_LOST or CONFLICT and rolls everything back.
 */
async function onRun(ctx: Context, orgId: string, runId: string, fn: (tx: Tx) => Promise<unknown>): Promise<RunRow> {
  const row = await ctx.db.tx({ orgId }, async (tx) => {
    try {
      await fn(tx);
    } catch (err) {
      return asRunError(ctx, tx, runId, err);
    }
    const [r] = await getRunsByIds(tx, [runId]);
    return r!;
  });
  ctx.loaders.runById.prime(row.id, row);
  return row;
}

export const Mutation: MutationResolvers = {
  startAgentRun: async (_p, args, ctx) => {
    const p = requireScope(ctx.principal, 'agents:run');
    const taskId = parseId('taskId', args.taskId);
    const agentId = parseId('agentId', args.agentId);
    return ctx.db.tx({ orgId: p.orgId, userId: p.kind === 'user' ? p.userId : null }, async (tx) => {
      // known_tasks is fed by tasks' events: a task created a moment ago may not be here yet.
      if (!(await getKnownTask(tx, p.orgId, taskId))) throw badInput('taskId', 'Unknown task (a new task can take a moment to appear)');
      const agent = await getAgentInOrg(tx, p.orgId, agentId);
      if (!agent) throw badInput('agentId', 'Unknown agent');
      const runId = await queueRun(tx, { orgId: p.orgId, agent, taskId, maxAttempts: ctx.maxAttempts, metadata: requestMetadata(ctx) });
      const [row] = await getRunsByIds(tx, [runId]);
      return row!;
    });
  },
  cancelAgentRun: async (_p, args, ctx) => {
    const p = requireScope(ctx.principal, 'agents:run');
    const runId = parseId('id', args.id);
    return onRun(ctx, p.orgId, runId, (tx) =>
      executeRunCommand(tx, {
        orgId: p.orgId,
        runId,
        command: { type: 'Cancel', reason: `Cancelled by ${requestMetadata(ctx).actor}` },
        metadata: requestMetadata(ctx),
      }),
    );
  },

  // ---------- worker protocol ----------
  claimAgentRun: async (_p, args, ctx) => {
    const p = requireWorker(ctx);
    const input = parseClaim(args);
    const workerId = input.worker ? `${actorOf(p)}/${input.worker}` : actorOf(p);
    const claim = await ctx.db.tx({ orgId: p.orgId }, (tx) =>
      claimRun(tx, { orgId: p.orgId, kinds: input.kinds, leaseMs: input.leaseSeconds * 1000, workerId, metadata: workerMetadata(ctx) }),
    );
    if (!claim) return null;
    ctx.loaders.runById.prime(claim.run.id, claim.run);
    const agent = await ctx.loaders.agentById.load(claim.run.agent_id);
    ctx.agentMetrics?.claims.inc({ agent_kind: agent?.kind ?? 'unknown' });
    return claim;
  },
  heartbeatAgentRun: async (_p, args, ctx) => {
    const p = requireWorker(ctx);
    const runId = parseId('id', args.id);
    const token = parseToken(args.token);
    let leaseExpiresAt: Date | null = null;
    await onRun(ctx, p.orgId, runId, async (tx) => {
      leaseExpiresAt = await heartbeat(tx, runId, token);
    });
    return { runId, leaseExpiresAt: leaseExpiresAt! };
  },
  checkpointAgentRun: async (_p, args, ctx) => {
    const p = requireWorker(ctx);
    const runId = parseId('id', args.id);
    const input = parseCheckpoint(args);
    let recorded = { seq: 0, wrote: false };
    const run = await onRun(ctx, p.orgId, runId, async (tx) => {
      recorded = await checkpointRun(tx, { orgId: p.orgId, runId, token: input.token, seq: input.seq, step: input.step, data: input.data, metadata: workerMetadata(ctx) });
    });
    if (recorded.wrote) {
      const agent = await ctx.loaders.agentById.load(run.agent_id);
      ctx.agentMetrics?.step(agent?.kind ?? 'unknown', input.step);
    }
    const checkpoints = await ctx.db.single({ orgId: p.orgId }, (tx) => getCheckpointsByRunIds(tx, [runId]));
    return checkpoints.find((c) => c.seq === recorded.seq)!;
  },
  requestApproval: async (_p, args, ctx) => {
    const p = requireWorker(ctx);
    const runId = parseId('runId', args.runId);
    const token = parseToken(args.token);
    const issue = checkApprovalRequest(args.action, args.payload ?? null);
    if (issue) throw badInput(issue.field, issue.message);
    return onRun(ctx, p.orgId, runId, (tx) =>
      fencedCommand(tx, {
        orgId: p.orgId,
        runId,
        token,
        metadata: workerMetadata(ctx),
        command: (tokenHash) => ({ type: 'RequestApproval', tokenHash, action: args.action, payload: args.payload ?? null }),
      }),
    );
  },
  completeAgentRun: async (_p, args, ctx) => {
    const p = requireWorker(ctx);
    const runId = parseId('id', args.id);
    const input = parseCompletion(args);
    return onRun(ctx, p.orgId, runId, (tx) =>
      fencedCommand(tx, {
        orgId: p.orgId,
        runId,
        token: input.token,
        metadata: workerMetadata(ctx),
        command: (tokenHash) => ({ type: 'Succeed', tokenHash, result: input.result }),
      }),
    );
  },
  failAgentRun: async (_p, args, ctx) => {
    const p = requireWorker(ctx);
    const runId = parseId('id', args.id);
    const input = parseFailure(args);
    return onRun(ctx, p.orgId, runId, (tx) =>
      fencedCommand(tx, {
        orgId: p.orgId,
        runId,
        token: input.token,
        metadata: workerMetadata(ctx),
        command: (tokenHash, s) => ({
          type: 'Fail',
          tokenHash,
          error: input.reason,
          retryable: input.retryable,
          retryAt: retryAt(ctx.retry, s.attempt + 1),
        }),
      }),
    );
  },
};
