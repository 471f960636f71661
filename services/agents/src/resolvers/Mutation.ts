import { badInput, conflict, notFound } from '@cos/errors';
import { parseId, requireScope } from '@cos/service-kit';
import type { MutationResolvers } from '../__generated__/resolvers-types';
import { RunRejected, runStreamId } from '../domain/agent-run';
import { executeRunCommand, queueRun } from '../domain/commands';
import { eventStore } from '../projections';
import { getAgentInOrg } from '../store/agent-store';
import { getKnownTask } from '../store/known-task-store';
import { getRunsByIds } from '../store/run-store';
import { requestMetadata } from './guards';

export const Mutation: MutationResolvers = {
  startAgentRun: async (_p, args, ctx) => {
    const p = requireScope(ctx.principal, 'agents:run');
    const taskId = parseId('taskId', args.taskId);
    const agentId = parseId('agentId', args.agentId);
    return ctx.db.tx({ orgId: p.orgId, userId: p.kind === 'user' ? p.userId : null }, async (tx) => {
      // known_tasks is fed by tasks' events: a task created a moment ago may not be here yet.
      if (!(await getKnownTask(tx, p.orgId, taskId))) throw badInput('taskId', 'Unknown task (a new task can take a moment to appear)');
      if (!(await getAgentInOrg(tx, p.orgId, agentId))) throw badInput('agentId', 'Unknown agent');
      const runId = await queueRun(tx, { orgId: p.orgId, agentId, taskId, maxAttempts: ctx.maxAttempts, metadata: requestMetadata(ctx) });
      const [row] = await getRunsByIds(tx, [runId]);
      return row!;
    });
  },
  cancelAgentRun: async (_p, args, ctx) => {
    const p = requireScope(ctx.principal, 'agents:run');
    const runId = parseId('id', args.id);
    return ctx.db.tx({ orgId: p.orgId, userId: p.kind === 'user' ? p.userId : null }, async (tx) => {
      try {
        await executeRunCommand(tx, {
          orgId: p.orgId,
          runId,
          command: { type: 'Cancel', reason: `Cancelled by ${requestMetadata(ctx).actor}` },
          metadata: requestMetadata(ctx),
        });
      } catch (err) {
        if (!(err instanceof RunRejected)) throw err;
        // Row-level security hides other organizations' runs: they look exactly like missing ones.
        if (err.message === 'run does not exist') throw notFound('AgentRun', runId);
        throw conflict(`Cannot cancel: ${err.message}`, await eventStore.streamVersion(tx, runStreamId(runId)));
      }
      const [row] = await getRunsByIds(tx, [runId]);
      return row!;
    });
  },
};
