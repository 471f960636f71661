import type { AgentEvent } from '@cos/events';

/**
 * The AgentRun aggregate: a run of one agent on one task. Status moves
 *   QUEUED -> RUNNING -> (checkpoints ...) -> SUCCEEDED
 *                     -> WAITING_FOR_APPROVAL -> (approved) QUEUED -> RUNNING ... | (rejected) CANCELLED
 *                     -> (step error / lease lapsed) QUEUED with attempt+1 ... -> FAILED (dead-lettered)
 * and anything not terminal can be CANCELLED by a person.
 */
export type RunStatus = 'QUEUED' | 'RUNNING' | 'WAITING_FOR_APPROVAL' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
export const TERMINAL: ReadonlySet<RunStatus> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
export const DEFAULT_MAX_ATTEMPTS = 3;

export const runStreamId = (runId: string) => `AgentRun-${runId}`;
export const RUN_STREAM_TYPE = 'AgentRun';

export interface RunState {
  exists: boolean;
  runId: string;
  agentId: string;
  taskId: string;
  status: RunStatus;
  attempt: number;
  maxAttempts: number;
  workerId: string | null;
  /** Seq of the last checkpoint (0: none); a resumed run continues with the step after it. */
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
  taskId: '',
  status: 'QUEUED',
  attempt: 0,
  maxAttempts: DEFAULT_MAX_ATTEMPTS,
  workerId: null,
  lastSeq: 0,
  lastCheckpointState: null,
  approval: null,
  correlationId: null,
};

export type RunEvent = Exclude<AgentEvent, { type: 'AgentCreated' }>;

export type RunCommand =
  | { type: 'Queue'; runId: string; agentId: string; taskId: string; maxAttempts: number }
  | { type: 'Start'; workerId: string }
  | { type: 'Checkpoint'; workerId: string; attempt: number; seq: number; state: unknown }
  | { type: 'RequestApproval'; workerId: string; attempt: number; action: string; payload: unknown }
  | { type: 'Succeed'; workerId: string; attempt: number; result: unknown }
  /** A step threw: retry on a new attempt, or dead-letter once the attempts are used up. */
  | { type: 'FailAttempt'; workerId: string; attempt: number; error: string }
  /** The supervisor saw the lease lapse (the worker crashed or hung). */
  | { type: 'ExpireLease'; attempt: number }
  | { type: 'DecideApproval'; approvalId: string; approved: boolean; reason: string | null }
  | { type: 'Cancel'; reason: string | null };

/** The command is not valid in the run's current state; callers turn it into CONFLICT or ignore it. */
export class RunRejected extends Error {
  constructor(
    message: string,
    readonly status: RunStatus,
  ) {
    super(message);
    this.name = 'RunRejected';
  }
}

function requireOwner(s: RunState, workerId: string, attempt: number) {
  if (!s.exists) throw new RunRejected('run does not exist', s.status);
  if (s.status !== 'RUNNING') throw new RunRejected(`run is ${s.status}, not RUNNING`, s.status);
  if (s.workerId !== workerId || s.attempt !== attempt) {
    throw new RunRejected(`run is owned by ${s.workerId ?? 'nobody'} (attempt ${s.attempt})`, s.status);
  }
}

/** Retry on the next attempt, or fail for good (dead letter) when the attempts are used up: never a loop. */
function retryOrDeadLetter(s: RunState, reason: string): RunEvent[] {
  if (s.attempt < s.maxAttempts) {
    return [{ type: 'AgentRunRequeued', data: { runId: s.runId, attempt: s.attempt + 1, reason } }];
  }
  return [
    {
      type: 'AgentRunFailed',
      data: { runId: s.runId, error: `${reason} (gave up after ${s.attempt} attempts)`, deadLettered: true },
    },
  ];
}

export function decideRun(cmd: RunCommand, s: RunState): RunEvent[] {
  switch (cmd.type) {
    case 'Queue':
      if (s.exists) throw new RunRejected('run already exists', s.status);
      return [
        {
          type: 'AgentRunQueued',
          data: { runId: cmd.runId, agentId: cmd.agentId, taskId: cmd.taskId, attempt: 1, maxAttempts: cmd.maxAttempts },
        },
      ];
    case 'Start':
      if (!s.exists || s.status !== 'QUEUED') throw new RunRejected(`run is ${s.status}, not QUEUED`, s.status);
      return [{ type: 'AgentRunStarted', data: { runId: s.runId, attempt: s.attempt, workerId: cmd.workerId } }];
    case 'Checkpoint':
      requireOwner(s, cmd.workerId, cmd.attempt);
      if (cmd.seq !== s.lastSeq + 1) throw new RunRejected(`checkpoint ${cmd.seq} out of order (last ${s.lastSeq})`, s.status);
      return [{ type: 'AgentRunCheckpointed', data: { runId: s.runId, seq: cmd.seq, state: cmd.state } }];
    case 'RequestApproval':
      requireOwner(s, cmd.workerId, cmd.attempt);
      return [
        {
          type: 'AgentRunApprovalRequested',
          data: { runId: s.runId, agentId: s.agentId, taskId: s.taskId, action: cmd.action, payload: cmd.payload },
        },
      ];
    case 'Succeed':
      requireOwner(s, cmd.workerId, cmd.attempt);
      return [{ type: 'AgentRunSucceeded', data: { runId: s.runId, result: cmd.result } }];
    case 'FailAttempt':
      requireOwner(s, cmd.workerId, cmd.attempt);
      return retryOrDeadLetter(s, `step failed: ${cmd.error}`);
    case 'ExpireLease':
      if (!s.exists || s.status !== 'RUNNING' || s.attempt !== cmd.attempt) {
        throw new RunRejected(`run is ${s.status} (attempt ${s.attempt}); nothing to expire`, s.status);
      }
      return retryOrDeadLetter(s, `lease of worker ${s.workerId ?? '?'} lapsed`);
    case 'DecideApproval':
      if (!s.exists || s.status !== 'WAITING_FOR_APPROVAL') {
        throw new RunRejected(`run is ${s.status}, not WAITING_FOR_APPROVAL`, s.status);
      }
      if (cmd.approved) {
        return [{ type: 'AgentRunResumed', data: { runId: s.runId, approvalId: cmd.approvalId, reason: cmd.reason } }];
      }
      return [
        {
          type: 'AgentRunCancelled',
          data: { runId: s.runId, reason: `Approval rejected${cmd.reason ? `: ${cmd.reason}` : ''}` },
        },
      ];
    case 'Cancel':
      if (!s.exists) throw new RunRejected('run does not exist', s.status);
      if (TERMINAL.has(s.status)) throw new RunRejected(`run is already ${s.status}`, s.status);
      return [{ type: 'AgentRunCancelled', data: { runId: s.runId, reason: cmd.reason } }];
  }
}

/** Folds one event into the state. Pure; also used to explain the projection's columns. */
export function evolveRun(s: RunState, e: RunEvent & { metadata?: { correlationId?: string } }): RunState {
  switch (e.type) {
    case 'AgentRunQueued':
      return {
        ...initialRunState,
        exists: true,
        runId: e.data.runId,
        agentId: e.data.agentId,
        taskId: e.data.taskId,
        status: 'QUEUED',
        attempt: e.data.attempt,
        maxAttempts: e.data.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
        correlationId: e.metadata?.correlationId ?? null,
      };
    case 'AgentRunStarted':
      return { ...s, status: 'RUNNING', workerId: e.data.workerId, attempt: e.data.attempt };
    case 'AgentRunCheckpointed':
      return { ...s, lastSeq: e.data.seq, lastCheckpointState: e.data.state };
    case 'AgentRunApprovalRequested':
      return { ...s, status: 'WAITING_FOR_APPROVAL', workerId: null };
    case 'AgentRunResumed':
      return { ...s, status: 'QUEUED', workerId: null, approval: { approvalId: e.data.approvalId, reason: e.data.reason } };
    case 'AgentRunRequeued':
      return { ...s, status: 'QUEUED', workerId: null, attempt: e.data.attempt };
    case 'AgentRunSucceeded':
      return { ...s, status: 'SUCCEEDED', workerId: null };
    case 'AgentRunFailed':
      return { ...s, status: 'FAILED', workerId: null };
    case 'AgentRunCancelled':
      return { ...s, status: 'CANCELLED', workerId: null };
  }
}
