import { describe, expect, it } from 'vitest';
import type { AgentStepRecord } from '@cos/events';
import { decideMissingAgents, AGENT_CATALOG } from '../src/domain/agent';
import { decideRun, evolveRun, initialRunState, RunRejected, type RunCommand, type RunState } from '../src/domain/agent-run';
import { hashFencingToken, newFencingToken, retryAt } from '../src/commands/worker-protocol';

const RUN = '00000000-0000-4000-8000-000000000001';
const AT = '2026-01-01T00:00:00.000Z';
const step: AgentStepRecord = {
  name: 's',
  startedAt: null,
  finishedAt: null,
  model: null,
  prompt: null,
  modelCalls: 0,
  promptTokens: 0,
  completionTokens: 0,
  costUsd: 0,
  toolCalls: [],
};
const fold = (cmds: RunCommand[], from: RunState = initialRunState): RunState =>
  cmds.reduce((s, c) => decideRun(c, s).reduce(evolveRun, s), from);
const queued = (maxAttempts = 3) =>
  fold([{ type: 'Queue', runId: RUN, agentId: 'a', agentKind: 'SUPPORT', taskId: 't', maxAttempts }]);
const claim = (h: string, w = 'service:w1'): RunCommand => ({ type: 'Claim', workerId: w, tokenHash: h });
const rejection = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof RunRejected ? err.reason : 'other';
  }
  return 'none';
};

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

describe('AgentRun decide/evolve (worker protocol)', () => {
  it('queues (with its kind), is claimed, checkpoints and succeeds', () => {
    const q = queued();
    expect(q.agentKind).toBe('SUPPORT');
    const s = fold(
      [claim('h1'), { type: 'Checkpoint', tokenHash: 'h1', seq: 1, state: { next: 1 }, step }, { type: 'Succeed', tokenHash: 'h1', result: 1 }],
      q,
    );
    expect(s).toMatchObject({ status: 'SUCCEEDED', lastSeq: 1, lastCheckpointState: { next: 1 }, lease: 1, tokenHash: null, workerId: null });
  });

  it('records the claim: a lease number per claim and the token hash, never the token', () => {
    const [started] = decideRun(claim('abc'), queued());
    expect(started).toEqual({ type: 'AgentRunStarted', data: { runId: RUN, attempt: 1, workerId: 'service:w1', lease: 1, tokenHash: 'abc' } });
    const token = newFencingToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(hashFencingToken(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashFencingToken(token)).not.toContain(token);
  });

  it('refuses a second queue, a claim of a running run and out-of-order checkpoints', () => {
    expect(rejection(() => decideRun({ type: 'Queue', runId: RUN, agentId: 'a', agentKind: 'TRIAGE', taskId: 't', maxAttempts: 3 }, queued()))).toBe('state');
    const running = fold([claim('h1')], queued());
    expect(rejection(() => decideRun(claim('h2'), running))).toBe('state');
    expect(() => decideRun({ type: 'Checkpoint', tokenHash: 'h1', seq: 2, state: {}, step }, running)).toThrow(/out of order/);
    expect(rejection(() => decideRun(claim('h1'), initialRunState))).toBe('missing');
  });

  it('fences every write by the claim token: a superseded or paused claim is lease-lost', () => {
    const running = fold([claim('h1')], queued());
    for (const cmd of [
      { type: 'Checkpoint', tokenHash: 'h2', seq: 1, state: {}, step },
      { type: 'Succeed', tokenHash: 'nope', result: null },
      { type: 'RequestApproval', tokenHash: 'h2', action: 'a.b', payload: {} },
      { type: 'Fail', tokenHash: 'h2', error: 'x', retryable: true, retryAt: AT },
    ] as RunCommand[]) {
      expect(rejection(() => decideRun(cmd, running))).toBe('lease');
    }
    // The lease lapses, the supervisor re-queues, another worker claims: the first token is dead for good.
    const reclaimed = fold([{ type: 'ExpireLease', lease: 1, retryAt: AT }, claim('h2', 'service:w2')], running);
    expect(reclaimed).toMatchObject({ status: 'RUNNING', lease: 2, attempt: 2, workerId: 'service:w2' });
    expect(rejection(() => decideRun({ type: 'Succeed', tokenHash: 'h1', result: null }, reclaimed))).toBe('lease');
    expect(decideRun({ type: 'Succeed', tokenHash: 'h2', result: null }, reclaimed)).toHaveLength(1);
    // A run waiting for approval is held by nobody.
    const waiting = fold([{ type: 'RequestApproval', tokenHash: 'h2', action: 'a.b', payload: {} }], reclaimed);
    expect(rejection(() => decideRun({ type: 'Succeed', tokenHash: 'h2', result: null }, waiting))).toBe('lease');
  });

  it('pauses for approval, resumes on approval with the checkpoint kept (same attempt)', () => {
    const waiting = fold(
      [claim('h1'), { type: 'Checkpoint', tokenHash: 'h1', seq: 1, state: { next: 2 }, step }, { type: 'RequestApproval', tokenHash: 'h1', action: 'support.sendReply', payload: {} }],
      queued(),
    );
    expect(waiting.status).toBe('WAITING_FOR_APPROVAL');
    const [resumedEvent] = decideRun({ type: 'DecideApproval', approvalId: 'ap', approved: true, reason: 'ok' }, waiting);
    expect(resumedEvent).toEqual({ type: 'AgentRunResumed', data: { runId: RUN, approvalId: 'ap', reason: 'ok', agentKind: 'SUPPORT' } });
    const resumed = fold([{ type: 'DecideApproval', approvalId: 'ap', approved: true, reason: 'ok' }], waiting);
    expect(resumed).toMatchObject({ status: 'QUEUED', lastSeq: 1, attempt: 1, approval: { approvalId: 'ap', reason: 'ok' } });
    const rejectedEvents = decideRun({ type: 'DecideApproval', approvalId: 'ap', approved: false, reason: 'too rude' }, waiting);
    expect(rejectedEvents).toEqual([{ type: 'AgentRunCancelled', data: { runId: RUN, reason: 'Approval rejected: too rude' } }]);
    expect(() => decideRun({ type: 'DecideApproval', approvalId: 'ap', approved: true, reason: null }, resumed)).toThrow(RunRejected);
  });

  it('re-queues a lapsed lease or a retryable failure with attempt+1 and a retry time; dead-letters after max attempts', () => {
    let s = fold([claim('h1')], queued(2));
    expect(decideRun({ type: 'ExpireLease', lease: 1, retryAt: AT }, s)).toEqual([
      { type: 'AgentRunRequeued', data: { runId: RUN, attempt: 2, reason: 'the lease of service:w1 lapsed', retryAt: AT, agentKind: 'SUPPORT' } },
    ]);
    s = fold([{ type: 'ExpireLease', lease: 1, retryAt: AT }, claim('h2')], s);
    const last = decideRun({ type: 'Fail', tokenHash: 'h2', error: 'boom', retryable: true, retryAt: AT }, s);
    expect(last[0]).toMatchObject({ type: 'AgentRunFailed', data: { deadLettered: true } });
    // A stale expiry (an older claim) is refused.
    expect(rejection(() => decideRun({ type: 'ExpireLease', lease: 1, retryAt: AT }, s))).toBe('state');
  });

  it('a failure the worker says is not retryable ends the run FAILED at once, not dead-lettered', () => {
    const s = fold([claim('h1')], queued(5));
    expect(decideRun({ type: 'Fail', tokenHash: 'h1', error: 'no such customer', retryable: false, retryAt: AT }, s)).toEqual([
      { type: 'AgentRunFailed', data: { runId: RUN, error: 'no such customer', deadLettered: false } },
    ]);
  });

  it('cancels anything not terminal, never a terminal run', () => {
    expect(fold([{ type: 'Cancel', reason: 'x' }], queued()).status).toBe('CANCELLED');
    const done = fold([claim('h'), { type: 'Succeed', tokenHash: 'h', result: null }], queued());
    expect(() => decideRun({ type: 'Cancel', reason: null }, done)).toThrow(/already SUCCEEDED/);
    expect(() => decideRun({ type: 'Cancel', reason: null }, initialRunState)).toThrow(/does not exist/);
  });
});

describe('retry backoff', () => {
  it('waits up to base·2^(n-2), capped, with full jitter', () => {
    const p = { baseMs: 1_000, maxMs: 10_000 };
    const at = (attempt: number, r: number) => Date.parse(retryAt(p, attempt, 0, () => r));
    expect(at(2, 1)).toBe(1_000);
    expect(at(3, 1)).toBe(2_000);
    expect(at(4, 0.5)).toBe(2_000);
    expect(at(10, 1)).toBe(10_000);
    expect(at(2, 0)).toBe(0);
  });
});
