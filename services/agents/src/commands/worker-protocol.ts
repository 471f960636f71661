import { createHash, randomBytes } from 'node:crypto';
import type { Tx } from '@cos/db';
import type { EventMetadata } from '@cos/event-store';
import type { AgentKind, AgentStepRecord } from '@cos/events';
import { getKnownTask, type KnownTaskRow } from '../store/known-task-store';
import { getCheckpointsByRunIds, getRunsByIds, lockNextQueuedRun, lockRun, renewLease, type CheckpointRow, type RunRow } from '../store/run-store';
import { RunRejected, type RunCommand, type RunState } from '../domain/agent-run';
import { executeRunCommand } from './agent-commands';

/**
 * The worker protocol: how an external agent worker (a service account holding agents:work, through the gateway)
 * claims a run, holds it, records its progress and hands it back. Every write after the claim is fenced by the
 * claim's token; claims and heartbeats set the lease columns of the run's row (operational state, not events).
 */

/** A fencing token: 256 random bits, handed to the claiming worker once; only its hash is stored. */
export const newFencingToken = (): string => randomBytes(32).toString('base64url');
export const hashFencingToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

export interface RetryPolicy {
  /** Backoff before the 2nd attempt; doubles per attempt. */
  baseMs: number;
  maxMs: number;
}

/**
 * When a re-queued run may be claimed again: exponential backoff with full jitter (attempt n waits a uniform random
 * time up to min(max, base·2^(n-2))), so a crashing run cannot spin and many re-queued runs do not stampede.
 */
export function retryAt(policy: RetryPolicy, nextAttempt: number, now = Date.now(), random = Math.random): string {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * Math.pow(2, Math.max(0, nextAttempt - 2)));
  return new Date(now + Math.round(random() * ceiling)).toISOString();
}

export interface Claim {
  run: RunRow;
  token: string;
  leaseExpiresAt: Date;
  /** What the agents service knows of the task (fed by tasks' events); null if it has not arrived yet. */
  task: KnownTaskRow | null;
  /** The last checkpoint: the worker resumes after it (null on a fresh run). */
  resumeFrom: CheckpointRow | null;
  /** The approval decision that resumed the run, if one did. */
  approval: RunState['approval'];
}

type Metadata = (state: RunState) => EventMetadata;

/**
 * Claims the oldest claimable QUEUED run of `kinds` in the transaction's organization: AgentRunStarted with a fresh
 * fencing token, and a lease of `leaseMs` — in one transaction, so two workers never get the same run.
 */
export async function claimRun(
  tx: Tx,
  args: { orgId: string; kinds: readonly AgentKind[]; leaseMs: number; workerId: string; metadata: Metadata },
): Promise<Claim | null> {
  const next = await lockNextQueuedRun(tx, args.orgId, args.kinds);
  if (!next) return null;
  const token = newFencingToken();
  const tokenHash = hashFencingToken(token);
  const { state } = await executeRunCommand(tx, {
    orgId: args.orgId,
    runId: next.id,
    command: { type: 'Claim', workerId: args.workerId, tokenHash },
    metadata: args.metadata,
  });
  const leaseExpiresAt = await renewLease(tx, next.id, tokenHash, args.leaseMs);
  if (!leaseExpiresAt) throw new Error(`run ${next.id} claimed but its lease could not be set`);
  const [run] = await getRunsByIds(tx, [next.id]);
  const checkpoints = state.lastSeq > 0 ? await getCheckpointsByRunIds(tx, [next.id]) : [];
  return {
    run: run!,
    token,
    leaseExpiresAt,
    task: (await getKnownTask(tx, args.orgId, state.taskId)) ?? null,
    resumeFrom: checkpoints.at(-1) ?? null,
    approval: state.approval,
  };
}

/** Renews the lease the token holds; RunRejected (missing / lease) when it holds nothing. */
export async function heartbeat(tx: Tx, runId: string, token: string): Promise<Date> {
  const until = await renewLease(tx, runId, hashFencingToken(token));
  if (until) return until;
  const row = await lockRun(tx, runId);
  if (!row) throw new RunRejected('run does not exist', 'QUEUED', 'missing');
  throw new RunRejected(row.status === 'RUNNING' ? 'the run was claimed again' : `the run is ${row.status}`, row.status, 'lease');
}

/**
 * Runs one fenced command of the token's holder with the run's row locked (so it serializes with heartbeats and the
 * supervisor). The event-sourced state decides whether the token still holds the run.
 */
export async function fencedCommand(
  tx: Tx,
  args: { orgId: string; runId: string; token: string; metadata: Metadata; command: (tokenHash: string, state: RunState) => RunCommand | null },
): Promise<{ state: RunState; wrote: boolean }> {
  const row = await lockRun(tx, args.runId);
  if (!row) throw new RunRejected('run does not exist', 'QUEUED', 'missing');
  const tokenHash = hashFencingToken(args.token);
  const out = await executeRunCommand(tx, {
    orgId: args.orgId,
    runId: args.runId,
    command: (state) => args.command(tokenHash, state),
    metadata: args.metadata,
  });
  // Progress counts as a heartbeat while the worker still holds the run.
  if (out.state.status === 'RUNNING') await renewLease(tx, args.runId, tokenHash);
  return { state: out.state, wrote: out.events.length > 0 };
}

/**
 * Records a checkpoint. `seq` (optional) makes a retried checkpoint idempotent: a seq already recorded is answered
 * with the stored checkpoint and nothing is written (the token must still hold the run).
 */
export async function checkpointRun(
  tx: Tx,
  args: { orgId: string; runId: string; token: string; seq: number | null; step: AgentStepRecord; data: unknown; metadata: Metadata },
): Promise<{ seq: number; wrote: boolean }> {
  let seq = 0;
  const { wrote } = await fencedCommand(tx, {
    ...args,
    command: (tokenHash, state) => {
      seq = args.seq ?? state.lastSeq + 1;
      if (seq <= state.lastSeq) {
        // A retry of a checkpoint that was recorded: check the fence, write nothing.
        if (state.status !== 'RUNNING' || state.tokenHash !== tokenHash) {
          throw new RunRejected(`the run is ${state.status}`, state.status, 'lease');
        }
        return null;
      }
      return { type: 'Checkpoint', tokenHash, seq, state: args.data, step: args.step };
    },
  });
  return { seq, wrote };
}
