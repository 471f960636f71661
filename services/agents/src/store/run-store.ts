import type { Tx } from '@cos/db';
import type { AgentKind, AgentStepRecord } from '@cos/events';
import type { RunStatus } from '../domain/agent-run';

export interface RunRow {
  id: string;
  org_id: string;
  agent_id: string;
  task_id: string;
  status: RunStatus;
  attempt: number;
  max_attempts: number;
  last_heartbeat_at: Date | null;
  lease_until: Date | null;
  worker_id: string | null;
  error: string | null;
  dead_lettered: boolean;
  lease_no: number;
  not_before: Date | null;
  result: unknown;
  model_calls: number;
  tool_calls: number;
  /** bigint columns come back as strings */
  prompt_tokens: string;
  completion_tokens: string;
  /** numeric comes back as a string */
  cost_usd: string;
  created_at: Date;
  updated_at: Date;
}

export interface CheckpointRow {
  run_id: string;
  seq: number;
  state: unknown;
  step: AgentStepRecord | null;
  created_at: Date;
}

const COLS = `id, org_id, agent_id, task_id, status, attempt, max_attempts, last_heartbeat_at, lease_until, worker_id,
  error, dead_lettered, lease_no, not_before, result, model_calls, tool_calls, prompt_tokens, completion_tokens, cost_usd,
  created_at, updated_at`;

export function getRunsByIds(tx: Tx, ids: readonly string[]): Promise<RunRow[]> {
  return tx.query<RunRow>(`/* getRunsByIds */ SELECT ${COLS} FROM agent_runs WHERE id = ANY($1::uuid[])`, [ids]);
}

/** The newest `first` runs of each agent, in one statement for all agents. */
export function getRecentRunsByAgentIds(tx: Tx, agentIds: readonly string[], first: number): Promise<RunRow[]> {
  return tx.query<RunRow>(
    `/* getRecentRunsByAgentIds */ SELECT ${COLS} FROM (
       SELECT r.*, row_number() OVER (PARTITION BY agent_id ORDER BY created_at DESC, id) AS rn
       FROM agent_runs r WHERE agent_id = ANY($1::uuid[])) ranked
     WHERE rn <= $2 ORDER BY created_at DESC, id`,
    [agentIds, first],
  );
}

export function getRunsByTaskIds(tx: Tx, taskIds: readonly string[]): Promise<RunRow[]> {
  return tx.query<RunRow>(
    `/* getRunsByTaskIds */ SELECT ${COLS} FROM agent_runs WHERE task_id = ANY($1::uuid[]) ORDER BY created_at DESC, id`,
    [taskIds],
  );
}

export function getCheckpointsByRunIds(tx: Tx, runIds: readonly string[]): Promise<CheckpointRow[]> {
  return tx.query<CheckpointRow>(
    `/* getCheckpointsByRunIds */ SELECT run_id, seq, state, step, created_at FROM checkpoints WHERE run_id = ANY($1::uuid[]) ORDER BY run_id, seq`,
    [runIds],
  );
}

/** A run of this agent on this task that is still going (not terminal): assignment reactions queue no second one. */
export function findActiveRun(tx: Tx, orgId: string, taskId: string, agentId: string): Promise<{ id: string } | undefined> {
  return tx.one<{ id: string }>(
    `/* findActiveRun */ SELECT id FROM agent_runs
     WHERE org_id = $1 AND task_id = $2 AND agent_id = $3 AND status IN ('QUEUED','RUNNING','WAITING_FOR_APPROVAL') LIMIT 1`,
    [orgId, taskId, agentId],
  );
}

export function getRunOrg(tx: Tx, runId: string): Promise<{ org_id: string } | undefined> {
  return tx.one<{ org_id: string }>(`/* getRunOrg */ SELECT org_id FROM agent_runs WHERE id = $1`, [runId]);
}

// ---------- worker protocol (runtime role, the worker's organization) ----------

/**
 * Locks the oldest claimable QUEUED run of these kinds in the caller's organization (and row-level security again);
 * SKIP LOCKED lets many workers claim at once without waiting on each other. A run re-queued after a failure is
 * claimable from its `not_before` (retry backoff).
 */
export function lockNextQueuedRun(tx: Tx, orgId: string, kinds: readonly AgentKind[]): Promise<{ id: string; org_id: string } | undefined> {
  return tx.one<{ id: string; org_id: string }>(
    `/* lockNextQueuedRun */ SELECT r.id, r.org_id FROM agent_runs r JOIN agents a ON a.id = r.agent_id
     WHERE r.org_id = $1 AND r.status = 'QUEUED' AND a.kind = ANY($2::text[]) AND (r.not_before IS NULL OR r.not_before <= now())
     ORDER BY r.created_at, r.id LIMIT 1 FOR UPDATE OF r SKIP LOCKED`,
    [orgId, kinds],
  );
}

/** Locks this run's row so a worker's writes, its heartbeats and the supervisor never interleave on it. */
export function lockRun(tx: Tx, runId: string): Promise<RunRow | undefined> {
  return tx.one<RunRow>(`/* lockRun */ SELECT ${COLS} FROM agent_runs WHERE id = $1 FOR UPDATE`, [runId]);
}

/** Starts (claim) or renews (heartbeat, checkpoint) the lease of the claim whose token hash is given. */
export async function renewLease(tx: Tx, runId: string, tokenHash: string, leaseMs?: number): Promise<Date | null> {
  const row = await tx.one<{ lease_until: Date }>(
    `/* renewLease */ UPDATE agent_runs SET lease_ms = COALESCE($3, lease_ms), last_heartbeat_at = now(),
       lease_until = now() + make_interval(secs => COALESCE($3, lease_ms)::double precision / 1000)
     WHERE id = $1 AND status = 'RUNNING' AND lease_token_hash = $2 RETURNING lease_until`,
    [runId, tokenHash, leaseMs ?? null],
  );
  return row?.lease_until ?? null;
}

// ---------- supervisor (system role; cross-tenant) ----------

/** RUNNING runs whose lease lapsed (or was never taken, e.g. after a rebuild), locked for the supervisor. */
export function lockExpiredLeases(tx: Tx, limit: number): Promise<Array<{ id: string; org_id: string; lease_no: number }>> {
  return tx.query<{ id: string; org_id: string; lease_no: number }>(
    `/* lockExpiredLeases */ SELECT id, org_id, lease_no FROM agent_runs
     WHERE status = 'RUNNING' AND (lease_until IS NULL OR lease_until < now())
     ORDER BY lease_until NULLS FIRST LIMIT $1 FOR UPDATE SKIP LOCKED`,
    [limit],
  );
}
