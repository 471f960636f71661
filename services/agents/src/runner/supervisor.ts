import type { Db } from '@cos/db';
import type { Logger } from '@cos/logger';
import { RunRejected } from '../domain/agent-run';
import { executeRunCommand } from '../domain/commands';
import { SERVICE_ACTOR } from '../events/subjects';
import { lockExpiredLeases } from '../store/run-store';

/**
 * Re-queues RUNNING runs whose lease lapsed (the worker crashed or hung): AgentRunRequeued with attempt+1, or
 * AgentRunFailed deadLettered once max_attempts are used, so poison work ends instead of looping.
 */
export function createSupervisor(deps: { db: Db; log: Logger; batch?: number }) {
  async function superviseOnce(): Promise<number> {
    let handled = 0;
    // One run per transaction: the row lock (SKIP LOCKED) keeps a live worker's checkpoint and this apart.
    for (let i = 0; i < (deps.batch ?? 100); i++) {
      const done = await deps.db.tx({ orgId: null }, async (tx) => {
        const [expired] = await lockExpiredLeases(tx, 1);
        if (!expired) return false;
        try {
          const after = await executeRunCommand(tx, {
            orgId: expired.org_id,
            runId: expired.id,
            command: { type: 'ExpireLease', attempt: expired.attempt },
            metadata: (s) => ({ actor: SERVICE_ACTOR, correlationId: s.correlationId ?? expired.id, causationId: null, traceparent: null }),
          });
          deps.log.warn({ runId: expired.id, attempt: expired.attempt, status: after.state.status }, 'lease lapsed; run re-queued or dead-lettered');
        } catch (err) {
          if (!(err instanceof RunRejected)) throw err;
          // Projection and stream disagree (should not happen); leave it for a person, but do not spin on it.
          deps.log.error({ runId: expired.id, err: err.message }, 'cannot expire lease');
          await tx.query(/* parkInconsistentRun */ `UPDATE agent_runs SET lease_until = now() + interval '1 hour' WHERE id = $1`, [expired.id]);
        }
        return true;
      });
      if (!done) break;
      handled++;
    }
    return handled;
  }
  return { superviseOnce };
}
