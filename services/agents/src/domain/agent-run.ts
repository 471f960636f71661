import type { AgentEvent, AgentKind, AgentStepRecord } from '@cos/events';
import { streamTypeOf } from '@cos/events';

/**
 * The AgentRun aggregate: a run of one agent on one task, worked by an external worker (the worker protocol).
 *   QUEUED -> (claimed) RUNNING -> (checkpoints ...) -> SUCCEEDED
 *                               -> WAITING_FOR_APPROVAL -> (approved) QUEUED -> RUNNING ... | (rejected) CANCELLED
 *                               -> (step failed, retryable / lease lapsed) QUEUED with attempt+1 ... -> FAILED
 *                               -> (failed, not retryable) FAILED
 * and anything not terminal can be CANCELLED by a person.
 *
 * Fencing: every claim draws a new token; the run stores its hash. A worker's writes carry the token and are refused
 * once another claim superseded it or the run left RUNNING, so a worker that was presumed dead (its lease lapsed and
 * the run was re-queued) cannot write over its successor.
 */
export type RunStatus = 'QUEUED' | 'RUNNING' | 'WAITING_FOR_APPROVAL' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
export const TERMINAL: ReadonlySet<RunStatus> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
export const DEFAULT_MAX_ATTEMPTS = 3;

export const runStreamId = (runId: string) => `AgentRun-${runId}`;
export const RUN_STREAM_TYPE = streamTypeOf('agents', 'AgentRun');

export interface RunState {
  exists: boolean;
  runId: string;
  agentId: string;
  agentKind: AgentKind | null;
  taskId: string;
  status: RunStatus;
  attempt: number;
  maxAttempts: number;
  /** Who holds the current claim (the worker's actor), for people reading the run. */
  workerId: string | null;
  /** Claims so far: the fencing sequence. */
  lease: number;
  /** sha256 of the current claim's fencing token (null when nobody holds the run). */
  tokenHash: string | null;
  /** Seq of the last checkpoint (0: none); a resumed run continues after it. */
  lastSeq: number;
  lastCheckpointState: unknown;
  /** The last approval decision that resumed this run. */
  approval: { approvalId: string; reason: string | null } | null;
  correlationId: string | null;
}

export const initialRunState: RunState = {
  exists: false,
  runId: '',
  agentId: '',
  agentKind: null,
  taskId: '',
  status: 'QUEUED',
  attempt: 0,
  maxAttempts: DEFAULT_MAX_ATTEMPTS,
  workerId: null,
  lease: 0,
  tokenHash: null,
  lastSeq: 0,
  lastCheckpointState: null,
  approval: null,
  correlationId: null,
};

export type RunEvent = Exclude<AgentEvent, { type: 'AgentCreated' }>;

/** The worker's fencing token, as its hash (commands never carry the token itself). */
interface Fenced {
  tokenHash: string;
}

export type RunCommand =
  | { type: 'Queue'; runId: string; agentId: string; agentKind: AgentKind; taskId: string; maxAttempts: number }
  | { type: 'Claim'; workerId: string; tokenHash: string }
  | ({ type: 'Checkpoint'; seq: number; state: unknown; step: AgentStepRecord } & Fenced)
  | ({ type: 'RequestApproval'; action: string; payload: unknown } & Fenced)
  | ({ type: 'Succeed'; result: unknown } & Fenced)
  /** The worker gives up on this attempt: retry later (retryable) or fail for good. */
  | ({ type: 'Fail'; error: string; retryable: boolean; retryAt: string } & Fenced)
  /** The supervisor saw the lease lapse (the worker crashed or hung). */
  | { type: 'ExpireLease'; lease: number; retryAt: string }
  | { type: 'DecideApproval'; approvalId: string; approved: boolean; reason: string | null }
  | { type: 'Cancel'; reason: string | null };

/**
 * The command does not fit the run: `missing` (no such run), `lease` (the caller's token no longer holds it) or
 * `state` (e.g. cancelling a finished run). Resolvers turn these into NOT_FOUND, LEASE_LOST and CONFLICT.
 */
export class RunRejected extends Error {
  constructor(
    message: string,
    readonly status: RunStatus,
    readonly reason: 'missing' | 'lease' | 'state' = 'state',
  ) {
    super(message);
    this.name = 'RunRejected';
  }
}

function requireLease(s: RunState, tokenHash: string) {
  if (!s.exists) throw new RunRejected('run does not exist', s.status, 'missing');
  if (s.status !== 'RUNNING') throw new RunRejected(`the run is ${s.status}`, s.status, 'lease');
  if (s.tokenHash === null || s.tokenHash !== tokenHash) {
    throw new RunRejected(`the run was claimed again (claim ${s.lease}, attempt ${s.attempt})`, s.status, 'lease');
  }
}

/** Retry on the next attempt (not before `retryAt`), or fail for good once the attempts are used up: never a loop. */
function retryOrDeadLetter(s: RunState, reason: string, retryAt: string): RunEvent[] {
  if (s.attempt < s.maxAttempts) {
    return [
      {
        type: 'AgentRunRequeued',
        data: { runId: s.runId, attempt: s.attempt + 1, reason, retryAt, ...(s.agentKind ? { agentKind: s.agentKind } : {}) },
      },
    ];
  }
  return [{ type: 'AgentRunFailed', data: { runId: s.runId, error: `${reason} (gave up after ${s.attempt} attempts)`, deadLettered: true } }];
}

export function decideRun(cmd: RunCommand, s: RunState): RunEvent[] {
  switch (cmd.type) {
    case 'Queue':
      if (s.exists) throw new RunRejected('run already exists', s.status);
      return [
        {
          type: 'AgentRunQueued',
          data: { runId: cmd.runId, agentId: cmd.agentId, taskId: cmd.taskId, attempt: 1, maxAttempts: cmd.maxAttempts, agentKind: cmd.agentKind },
        },
      ];
    case 'Claim':
      if (!s.exists) throw new RunRejected('run does not exist', s.status, 'missing');
      if (s.status !== 'QUEUED') throw new RunRejected(`run is ${s.status}, not QUEUED`, s.status);
      return [{ type: 'AgentRunStarted', data: { runId: s.runId, attempt: s.attempt, workerId: cmd.workerId, lease: s.lease + 1, tokenHash: cmd.tokenHash } }];
    case 'Checkpoint':
      requireLease(s, cmd.tokenHash);
      if (cmd.seq !== s.lastSeq + 1) throw new RunRejected(`checkpoint ${cmd.seq} out of order (last ${s.lastSeq})`, s.status);
      return [{ type: 'AgentRunCheckpointed', data: { runId: s.runId, seq: cmd.seq, state: cmd.state, step: cmd.step } }];
    case 'RequestApproval':
      requireLease(s, cmd.tokenHash);
      return [
        {
          type: 'AgentRunApprovalRequested',
          data: { runId: s.runId, agentId: s.agentId, taskId: s.taskId, action: cmd.action, payload: cmd.payload },
        },
      ];
    case 'Succeed':
      requireLease(s, cmd.tokenHash);
      return [{ type: 'AgentRunSucceeded', data: { runId: s.runId, result: cmd.result } }];
    case 'Fail':
      requireLease(s, cmd.tokenHash);
      if (!cmd.retryable) return [{ type: 'AgentRunFailed', data: { runId: s.runId, error: cmd.error, deadLettered: false } }];
      return retryOrDeadLetter(s, `attempt ${s.attempt} failed: ${cmd.error}`, cmd.retryAt);
    case 'ExpireLease':
      if (!s.exists || s.status !== 'RUNNING' || s.lease !== cmd.lease) {
        throw new RunRejected(`run is ${s.status} (claim ${s.lease}); nothing to expire`, s.status);
      }
      return retryOrDeadLetter(s, `the lease of ${s.workerId ?? 'its worker'} lapsed`, cmd.retryAt);
    case 'DecideApproval':
      if (!s.exists || s.status !== 'WAITING_FOR_APPROVAL') {
        throw new RunRejected(`run is ${s.status}, not WAITING_FOR_APPROVAL`, s.status);
      }
      if (cmd.approved) {
        return [
          {
            type: 'AgentRunResumed',
            data: { runId: s.runId, approvalId: cmd.approvalId, reason: cmd.reason, ...(s.agentKind ? { agentKind: s.agentKind } : {}) },
          },
        ];
      }
      return [{ type: 'AgentRunCancelled', data: { runId: s.runId, reason: `Approval rejected${cmd.reason ? `: ${cmd.reason}` : ''}` } }];
    case 'Cancel':
      if (!s.exists) throw new RunRejected('run does not exist', s.status, 'missing');
      if (TERMINAL.has(s.status)) throw new RunRejected(`run is already ${s.status}`, s.status);
      return [{ type: 'AgentRunCancelled', data: { runId: s.runId, reason: cmd.reason } }];
  }
}

/** Folds one event into the state. Pure; also used to explain the projection's columns. */
export function evolveRun(s: RunState, e: RunEvent & { metadata?: { correlationId?: string } }): RunState {
  const released = { workerId: null, tokenHash: null };
  switch (e.type) {
    case 'AgentRunQueued':
      return {
        ...initialRunState,
        exists: true,
        runId: e.data.runId,
        agentId: e.data.agentId,
        agentKind: e.data.agentKind ?? null,
        taskId: e.data.taskId,
        status: 'QUEUED',
        attempt: e.data.attempt,
        maxAttempts: e.data.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
        correlationId: e.metadata?.correlationId ?? null,
      };
    case 'AgentRunStarted':
      return {
        ...s,
        status: 'RUNNING',
        workerId: e.data.workerId,
        attempt: e.data.attempt,
        lease: e.data.lease ?? s.lease + 1,
        tokenHash: e.data.tokenHash ?? null,
      };
    case 'AgentRunCheckpointed':
      return { ...s, lastSeq: e.data.seq, lastCheckpointState: e.data.state };
    case 'AgentRunApprovalRequested':
      return { ...s, ...released, status: 'WAITING_FOR_APPROVAL' };
    case 'AgentRunResumed':
      return { ...s, ...released, status: 'QUEUED', approval: { approvalId: e.data.approvalId, reason: e.data.reason } };
    case 'AgentRunRequeued':
      return { ...s, ...released, status: 'QUEUED', attempt: e.data.attempt };
    case 'AgentRunSucceeded':
      return { ...s, ...released, status: 'SUCCEEDED' };
    case 'AgentRunFailed':
      return { ...s, ...released, status: 'FAILED' };
    case 'AgentRunCancelled':
      return { ...s, ...released, status: 'CANCELLED' };
    default: {
      const unknown: never = e;
      return unknown;
    }
  }
}
