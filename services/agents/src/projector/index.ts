import type { Tx } from '@cos/db';
import { createEventStore, type StoredOf } from '@cos/event-store';
import type { AgentEvent } from '@cos/events';

/** Postgres NOTIFY channel the outbox relay listens on. */
export const NOTIFY_CHANNEL = 'agents_events';

/**
 * Tables `pnpm rebuild agents` empties before replaying every event through `project`, children first (foreign keys:
 * checkpoints -> agent_runs -> agents). known_tasks is not here: it is fed by tasks' events, not ours.
 */
export const READ_MODEL_TABLES = ['checkpoints', 'agent_runs', 'agents'] as const;

/**
 * Applies one of our events to the read models, in the append's transaction. Lease columns (lease_until, lease_ms,
 * last_heartbeat_at) are operational state the worker protocol writes itself (claims and heartbeats are not events);
 * status changes clear them here.
 */
export async function project(tx: Tx, e: StoredOf<AgentEvent>): Promise<void> {
  switch (e.type) {
    case 'AgentCreated':
      await tx.query(
        /* projectAgentCreated */ `INSERT INTO agents (id, org_id, name, kind, created_at) VALUES ($1, $2, $3, $4, $5)`,
        [e.data.agentId, e.orgId, e.data.name, e.data.kind, e.occurredAt],
      );
      return;
    case 'AgentRunQueued':
      await tx.query(
        /* projectAgentRunQueued */ `INSERT INTO agent_runs (id, org_id, agent_id, task_id, status, attempt, max_attempts, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'QUEUED', $5, $6, $7, $7)`,
        [e.data.runId, e.orgId, e.data.agentId, e.data.taskId, e.data.attempt, e.data.maxAttempts ?? 3, e.occurredAt],
      );
      return;
    case 'AgentRunStarted':
      await tx.query(
        /* projectAgentRunStarted */ `UPDATE agent_runs SET status = 'RUNNING', attempt = $2, worker_id = $3,
           lease_no = COALESCE($5, lease_no + 1), lease_token_hash = $6, not_before = NULL,
           last_heartbeat_at = $4, updated_at = $4 WHERE id = $1`,
        [e.data.runId, e.data.attempt, e.data.workerId, e.occurredAt, e.data.lease ?? null, e.data.tokenHash ?? null],
      );
      return;
    case 'AgentRunCheckpointed': {
      const step = e.data.step;
      await tx.query(
        /* projectAgentRunCheckpointed */ `INSERT INTO checkpoints (org_id, run_id, seq, state, step, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
        [e.orgId, e.data.runId, e.data.seq, JSON.stringify(e.data.state ?? null), step ? JSON.stringify(step) : null, e.occurredAt],
      );
      // The run's usage is the sum of its steps' (derived here, so a rebuild gives the same totals).
      await tx.query(
        /* projectAgentRunUsage */ `UPDATE agent_runs SET updated_at = $2, model_calls = model_calls + $3, tool_calls = tool_calls + $4,
           prompt_tokens = prompt_tokens + $5, completion_tokens = completion_tokens + $6, cost_usd = cost_usd + $7 WHERE id = $1`,
        [
          e.data.runId,
          e.occurredAt,
          step?.modelCalls ?? 0,
          step?.toolCalls.length ?? 0,
          step?.promptTokens ?? 0,
          step?.completionTokens ?? 0,
          step?.costUsd ?? 0,
        ],
      );
      return;
    }
    case 'AgentRunApprovalRequested':
      await setStatus(tx, e.data.runId, 'WAITING_FOR_APPROVAL', e.occurredAt);
      return;
    case 'AgentRunResumed':
      await setStatus(tx, e.data.runId, 'QUEUED', e.occurredAt);
      return;
    case 'AgentRunRequeued':
      await tx.query(
        /* projectAgentRunRequeued */ `UPDATE agent_runs SET status = 'QUEUED', attempt = $2, error = $3, worker_id = NULL,
           lease_until = NULL, lease_token_hash = NULL, not_before = $5, updated_at = $4 WHERE id = $1`,
        [e.data.runId, e.data.attempt, e.data.reason, e.occurredAt, e.data.retryAt ?? null],
      );
      return;
    case 'AgentRunSucceeded':
      await setStatus(tx, e.data.runId, 'SUCCEEDED', e.occurredAt, null);
      await tx.query(/* projectAgentRunResult */ `UPDATE agent_runs SET result = $2 WHERE id = $1`, [
        e.data.runId,
        JSON.stringify(e.data.result ?? null),
      ]);
      return;
    case 'AgentRunFailed':
      await tx.query(
        /* projectAgentRunFailed */ `UPDATE agent_runs SET status = 'FAILED', error = $2, dead_lettered = $3, worker_id = NULL,
           lease_until = NULL, lease_token_hash = NULL, updated_at = $4 WHERE id = $1`,
        [e.data.runId, e.data.error, e.data.deadLettered, e.occurredAt],
      );
      return;
    case 'AgentRunCancelled':
      await setStatus(tx, e.data.runId, 'CANCELLED', e.occurredAt, e.data.reason);
      return;
    default: {
      const unknown: never = e;
      throw new Error(`no projection for ${(unknown as { type: string }).type}`);
    }
  }
}

async function setStatus(tx: Tx, runId: string, status: string, at: string, error?: string | null) {
  // `error` undefined keeps the current value; null clears it (a success after a retried attempt).
  await tx.query(
    /* projectAgentRunStatus */ `UPDATE agent_runs SET status = $2, worker_id = NULL, lease_until = NULL, lease_token_hash = NULL, updated_at = $3,
       error = CASE WHEN $4::boolean THEN $5 ELSE error END WHERE id = $1`,
    [runId, status, at, error !== undefined, error ?? null],
  );
}

/** The agents service's event store (append + project in one transaction; replay for rebuilds). */
export const eventStore = createEventStore<AgentEvent>({ notifyChannel: NOTIFY_CHANNEL, project });
