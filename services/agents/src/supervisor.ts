import type { Db } from '@cos/db';
import type { Logger } from '@cos/logger';
import { RunRejected } from './domain/agent-run';
import { executeRunCommand } from './commands/agent-commands';
import { retryAt, type RetryPolicy } from './commands/worker-protocol';
import { SERVICE_ACTOR } from './events/subjects';
import { lockExpiredLeases } from './store/run-store';

export interface SupervisorOptions {
  /** SYSTEM role Db (BYPASSRLS): the supervisor watches every organization's runs. */
  db: Db;
  log: Logger;
  /** How often it looks for lapsed leases. */
  intervalMs: number;
  retry: RetryPolicy;
  /** Runs handled per pass. */
  batch?: number;
  /** Called with each run it re-queued or dead-lettered (metrics). */
  onExpired?: (outcome: 'requeued' | 'dead_lettered') => void;
}

/**
 * Re-queues RUNNING runs whose lease lapsed (the worker crashed, hung or lost its network): AgentRunRequeued with
 * attempt+1 and a backoff, or AgentRunFailed deadLettered once max attempts are used, so poison work ends instead
 * of looping. The lapsed claim's fencing token stops working at that moment.
 */
export function createSupervisor(opts: SupervisorOptions) {
  const log = opts.log.child({ component: 'supervisor' });
  let timer: NodeJS.Timeout | null = null;
  let pass: Promise<unknown> = Promise.resolve();

  async function superviseOnce(): Promise<number> {
    let handled = 0;
    // One run per transaction: the row lock (SKIP LOCKED) keeps a live worker's write and this apart.
    for (let i = 0; i < (opts.batch ?? 100); i++) {
      const done = await opts.db.tx({ orgId: null }, async (tx) => {
        const [expired] = await lockExpiredLeases(tx, 1);
        if (!expired) return false;
        try {
          const after = await executeRunCommand(tx, {
            orgId: expired.org_id,
            runId: expired.id,
            command: (s) => ({ type: 'ExpireLease', lease: expired.lease_no, retryAt: retryAt(opts.retry, s.attempt + 1) }),
            metadata: (s) => ({ actor: SERVICE_ACTOR, correlationId: s.correlationId ?? expired.id, causationId: null, traceparent: null }),
          });
          const outcome = after.state.status === 'FAILED' ? 'dead_lettered' : 'requeued';
          opts.onExpired?.(outcome);
          log.warn({ runId: expired.id, lease: expired.lease_no, attempt: after.state.attempt, outcome }, 'lease lapsed');
        } catch (err) {
          if (!(err instanceof RunRejected)) throw err;
          // Projection and stream disagree (should not happen); leave it for a person, but do not spin on it.
          log.error({ runId: expired.id, err: err.message }, 'cannot expire lease');
          await tx.query(/* parkInconsistentRun */ `UPDATE agent_runs SET lease_until = now() + interval '1 hour' WHERE id = $1`, [expired.id]);
        }
        return true;
      });
      if (!done) break;
      handled++;
    }
    return handled;
  }

  return {
    superviseOnce,
    start() {
      if (timer) return;
      const tick = () => {
        pass = superviseOnce()
          .catch((err: unknown) => log.error({ err }, 'supervisor pass failed'))
          .finally(() => {
            if (timer) timer = setTimeout(tick, opts.intervalMs);
          });
      };
      timer = setTimeout(tick, opts.intervalMs);
      log.info({ intervalMs: opts.intervalMs }, 'supervisor started');
    },
    async stop() {
      if (!timer) return;
      clearTimeout(timer);
      timer = null;
      await pass;
    },
  };
}

export type Supervisor = ReturnType<typeof createSupervisor>;
