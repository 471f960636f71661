import { describe, expect, it } from 'vitest';
import { evolveRun, initialRunState, type RunEvent, type RunState } from '../src/domain/agent-run';

const runId = 'run-1';
const queued: RunState = evolveRun(initialRunState, {
  type: 'AgentRunQueued',
  data: { runId, agentId: 'agent-1', taskId: 'task-1', attempt: 1, maxAttempts: 3, agentKind: 'SUPPORT' },
});
const running: RunState = { ...queued, status: 'RUNNING', workerId: 'w1', lease: 1, tokenHash: 'h1' };

/**
 * One case per member of RunEvent (the AgentRun stream's union): the mapped type makes a new event type a compile error
 * here until it has a case, and evolveRun's `never` check makes it one there until it is handled.
 */
const cases: { [T in RunEvent['type']]: { from: RunState; event: Extract<RunEvent, { type: T }>; expect: Partial<RunState> } } = {
  AgentRunQueued: {
    from: initialRunState,
    event: { type: 'AgentRunQueued', data: { runId, agentId: 'agent-1', taskId: 'task-1', attempt: 1, maxAttempts: 5, agentKind: 'SUPPORT' } },
    expect: { exists: true, status: 'QUEUED', attempt: 1, maxAttempts: 5, agentKind: 'SUPPORT', taskId: 'task-1' },
  },
  AgentRunStarted: {
    from: queued,
    event: { type: 'AgentRunStarted', data: { runId, attempt: 1, workerId: 'w1', lease: 1, tokenHash: 'h1' } },
    expect: { status: 'RUNNING', workerId: 'w1', lease: 1, tokenHash: 'h1' },
  },
  AgentRunCheckpointed: {
    from: running,
    event: { type: 'AgentRunCheckpointed', data: { runId, seq: 1, state: { step: 'read' } } },
    expect: { lastSeq: 1, lastCheckpointState: { step: 'read' }, status: 'RUNNING' },
  },
  AgentRunApprovalRequested: {
    from: running,
    event: { type: 'AgentRunApprovalRequested', data: { runId, agentId: 'agent-1', taskId: 'task-1', action: 'send-reply', payload: {} } },
    expect: { status: 'WAITING_FOR_APPROVAL', workerId: null, tokenHash: null },
  },
  AgentRunResumed: {
    from: { ...running, status: 'WAITING_FOR_APPROVAL', workerId: null, tokenHash: null },
    event: { type: 'AgentRunResumed', data: { runId, approvalId: 'ap-1', reason: 'ok' } },
    expect: { status: 'QUEUED', approval: { approvalId: 'ap-1', reason: 'ok' } },
  },
  AgentRunRequeued: {
    from: running,
    event: { type: 'AgentRunRequeued', data: { runId, attempt: 2, reason: 'lease lapsed' } },
    expect: { status: 'QUEUED', attempt: 2, workerId: null, tokenHash: null },
  },
  AgentRunSucceeded: { from: running, event: { type: 'AgentRunSucceeded', data: { runId, result: 'done' } }, expect: { status: 'SUCCEEDED', tokenHash: null } },
  AgentRunFailed: {
    from: running,
    event: { type: 'AgentRunFailed', data: { runId, error: 'boom', deadLettered: true } },
    expect: { status: 'FAILED', tokenHash: null },
  },
  AgentRunCancelled: { from: queued, event: { type: 'AgentRunCancelled', data: { runId, reason: null } }, expect: { status: 'CANCELLED' } },
};

describe('evolveRun handles every event of the AgentRun stream', () => {
  for (const [type, c] of Object.entries(cases)) {
    it(type, () => {
      const next = evolveRun(c.from, c.event as RunEvent);
      expect(next).toMatchObject(c.expect);
      expect(next).not.toEqual(c.from);
    });
  }
});
