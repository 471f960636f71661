import { describe, expect, it } from 'vitest';
import { decideMissingAgents, AGENT_CATALOG } from '../src/domain/agent';
import { decideRun, evolveRun, initialRunState, RunRejected, type RunCommand, type RunState } from '../src/domain/agent-run';

const RUN = '00000000-0000-4000-8000-000000000001';
const fold = (cmds: RunCommand[], from: RunState = initialRunState): RunState =>
  cmds.reduce((s, c) => decideRun(c, s).reduce(evolveRun, s), from);
const queued = (maxAttempts = 3) =>
  fold([{ type: 'Queue', runId: RUN, agentId: 'a', taskId: 't', maxAttempts }]);

describe('decideMissingAgents', () => {
  it('creates the seven specialists once', () => {
    let n = 0;
    const created = decideMissingAgents(new Set(), () => `id-${n++}`);
    expect(created.map((e) => e.data.kind)).toEqual(AGENT_CATALOG.map((a) => a.kind));
    expect(created[0]!.data.name).toBe('Triage');
    expect(decideMissingAgents(new Set(AGENT_CATALOG.map((a) => a.kind)), () => 'x')).toEqual([]);
    expect(decideMissingAgents(new Set(['TRIAGE', 'SUPPORT']), () => 'x')).toHaveLength(5);
  });
});

describe('AgentRun decide/evolve', () => {
  it('queues, starts, checkpoints and succeeds', () => {
    const s = fold(
      [
        { type: 'Start', workerId: 'w1' },
        { type: 'Checkpoint', workerId: 'w1', attempt: 1, seq: 1, state: { step: 'a' } },
        { type: 'Succeed', workerId: 'w1', attempt: 1, result: 1 },
      ],
      queued(),
    );
    expect(s.status).toBe('SUCCEEDED');
    expect(s.lastSeq).toBe(1);
    expect(s.lastCheckpointState).toEqual({ step: 'a' });
  });

  it('refuses a second queue and out-of-order checkpoints', () => {
    expect(() => decideRun({ type: 'Queue', runId: RUN, agentId: 'a', taskId: 't', maxAttempts: 3 }, queued())).toThrow(RunRejected);
    const running = fold([{ type: 'Start', workerId: 'w1' }], queued());
    expect(() => decideRun({ type: 'Checkpoint', workerId: 'w1', attempt: 1, seq: 2, state: {} }, running)).toThrow(/out of order/);
  });

  it('fences writes by worker and attempt', () => {
    const running = fold([{ type: 'Start', workerId: 'w1' }], queued());
    expect(() => decideRun({ type: 'Checkpoint', workerId: 'w2', attempt: 1, seq: 1, state: {} }, running)).toThrow(RunRejected);
    expect(() => decideRun({ type: 'Succeed', workerId: 'w1', attempt: 2, result: null }, running)).toThrow(RunRejected);
  });

  it('pauses for approval, resumes on approval with the checkpoint kept', () => {
    const waiting = fold(
      [
        { type: 'Start', workerId: 'w1' },
        { type: 'Checkpoint', workerId: 'w1', attempt: 1, seq: 1, state: { step: 'draft' } },
        { type: 'RequestApproval', workerId: 'w1', attempt: 1, action: 'send', payload: {} },
      ],
      queued(),
    );
    expect(waiting.status).toBe('WAITING_FOR_APPROVAL');
    const resumed = fold([{ type: 'DecideApproval', approvalId: 'ap', approved: true, reason: 'ok' }], waiting);
    expect(resumed).toMatchObject({ status: 'QUEUED', lastSeq: 1, attempt: 1, approval: { approvalId: 'ap', reason: 'ok' } });
    const rejectedEvents = decideRun({ type: 'DecideApproval', approvalId: 'ap', approved: false, reason: 'too rude' }, waiting);
    expect(rejectedEvents).toEqual([{ type: 'AgentRunCancelled', data: { runId: RUN, reason: 'Approval rejected: too rude' } }]);
    // A decision for a run that is not waiting is refused (the reactor ignores it).
    expect(() => decideRun({ type: 'DecideApproval', approvalId: 'ap', approved: true, reason: null }, resumed)).toThrow(RunRejected);
  });

  it('re-queues a lapsed lease with attempt+1 and dead-letters after max attempts', () => {
    let s = fold([{ type: 'Start', workerId: 'w1' }], queued(2));
    const first = decideRun({ type: 'ExpireLease', attempt: 1 }, s);
    expect(first).toEqual([{ type: 'AgentRunRequeued', data: { runId: RUN, attempt: 2, reason: 'lease of worker w1 lapsed' } }]);
    s = fold([{ type: 'ExpireLease', attempt: 1 }, { type: 'Start', workerId: 'w2' }], s);
    expect(s.attempt).toBe(2);
    const last = decideRun({ type: 'FailAttempt', workerId: 'w2', attempt: 2, error: 'boom' }, s);
    expect(last[0]).toMatchObject({ type: 'AgentRunFailed', data: { deadLettered: true } });
    expect(fold([{ type: 'FailAttempt', workerId: 'w2', attempt: 2, error: 'boom' }], s).status).toBe('FAILED');
    // A stale expiry (the attempt moved on) is refused.
    expect(() => decideRun({ type: 'ExpireLease', attempt: 1 }, s)).toThrow(RunRejected);
  });

  it('cancels anything not terminal, never a terminal run', () => {
    expect(fold([{ type: 'Cancel', reason: 'x' }], queued()).status).toBe('CANCELLED');
    const done = fold([{ type: 'Start', workerId: 'w' }, { type: 'Succeed', workerId: 'w', attempt: 1, result: null }], queued());
    expect(() => decideRun({ type: 'Cancel', reason: null }, done)).toThrow(/already SUCCEEDED/);
    expect(() => decideRun({ type: 'Cancel', reason: null }, initialRunState)).toThrow(/does not exist/);
  });
});
