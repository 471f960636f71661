import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunner, type RunnerOptions } from '../src/runner/runner';
import { SPECIALISTS, type Specialist } from '../src/runner/specialists';
import { log, setupAgents, type AgentsHarness } from './harness';

let h: AgentsHarness;
beforeAll(async () => {
  h = await setupAgents({ maxAttempts: 3 });
});
afterAll(async () => {
  await h?.close();
});

const runnerOpts = (extra: Partial<RunnerOptions> = {}): RunnerOptions => ({
  db: h.systemDb,
  log,
  leaseMs: 5_000,
  heartbeatMs: 1_000,
  pollMs: 20,
  supervisorMs: 50,
  ...extra,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`condition not met: ${JSON.stringify(v)}`);
    await sleep(25);
  }
}

/** Each test uses its own organization; a runner claims any org's runs, so tests here run one after another. */
async function queuedRun(kind: string, title: string, description: string | null = null) {
  const { orgId, agents } = await h.createOrg();
  const taskId = await h.createTask(orgId, title, { id: agents[kind]!, kind: 'Agent' }, description);
  const [run] = await h.runs(orgId, taskId);
  return { orgId, taskId, runId: run!.id, agents };
}

describe('agent runner', () => {
  it('runs a TRIAGE run to success with a checkpoint per step (started/stopped like in production)', async () => {
    const { runId } = await queuedRun('TRIAGE', 'Checkout is down for EU customers');
    const runner = createRunner(runnerOpts());
    runner.start();
    try {
      await waitFor(() => h.runRow(runId), (r) => r.status === 'SUCCEEDED');
    } finally {
      await runner.stop();
    }
    const cps = await h.checkpoints(runId);
    expect(cps.map((c) => [c.seq, c.state.step])).toEqual([
      [1, 'read-task'],
      [2, 'propose-priority'],
    ]);
    expect(cps[1]!.state.data.proposedPriority).toBe('URGENT');
    expect(await h.eventTypes(runId)).toEqual([
      'AgentRunQueued',
      'AgentRunStarted',
      'AgentRunCheckpointed',
      'AgentRunCheckpointed',
      'AgentRunSucceeded',
    ]);
    const [succeeded] = await h.systemDb.query<{ data: { result: { proposedPriority: string } } }>(
      { orgId: null },
      `SELECT data FROM events WHERE stream_id = $1 AND type = 'AgentRunSucceeded'`,
      [`AgentRun-${runId}`],
    );
    expect(succeeded!.data.result.proposedPriority).toBe('URGENT');
    const row = await h.runRow(runId);
    expect(row.worker_id).toBeNull();
    expect(row.lease_until).toBeNull();
  });

  it('SUPPORT waits for approval, then resumes from its checkpoint when approved and succeeds', async () => {
    const { orgId, taskId, runId, agents } = await queuedRun('SUPPORT', 'Customer cannot log in', 'error on login');
    const runner = createRunner(runnerOpts());
    expect(await runner.drain()).toEqual(['waiting']);
    expect((await h.runRow(runId)).status).toBe('WAITING_FOR_APPROVAL');
    const [requested] = await h.systemDb.query<{ data: { action: string; payload: { draft: string }; taskId: string; agentId: string } }>(
      { orgId: null },
      `SELECT data FROM events WHERE stream_id = $1 AND type = 'AgentRunApprovalRequested'`,
      [`AgentRun-${runId}`],
    );
    expect(requested!.data).toMatchObject({ action: 'support.sendReply', taskId, agentId: agents.SUPPORT });
    expect((await h.checkpoints(runId)).map((c) => c.state.step)).toEqual(['read-task', 'draft-reply', 'request-send-approval']);
    // Nothing to do while waiting.
    expect(await runner.runOnce()).toBeNull();

    const approvalId = randomUUID();
    await h.deliverTasks(orgId, {
      type: 'ApprovalDecided',
      data: { approvalId, taskId, runId, agentId: agents.SUPPORT!, approved: true, reason: 'looks good', decidedBy: randomUUID() },
    });
    expect((await h.runRow(runId)).status).toBe('QUEUED');
    expect(await runner.drain()).toEqual(['succeeded']);
    const cps = await h.checkpoints(runId);
    expect(cps.map((c) => c.state.step)).toEqual(['read-task', 'draft-reply', 'request-send-approval', 'send-reply']);
    expect(cps[3]!.state.data).toMatchObject({ sent: true, approvalId, sentDraft: requested!.data.payload.draft });
    expect(await h.eventTypes(runId)).toEqual([
      'AgentRunQueued',
      'AgentRunStarted',
      'AgentRunCheckpointed',
      'AgentRunCheckpointed',
      'AgentRunCheckpointed',
      'AgentRunApprovalRequested',
      'AgentRunResumed',
      'AgentRunStarted',
      'AgentRunCheckpointed',
      'AgentRunSucceeded',
    ]);
  });

  it('a rejected approval ends the run with the reason', async () => {
    const { orgId, taskId, runId, agents } = await queuedRun('SUPPORT', 'Refund request');
    const runner = createRunner(runnerOpts());
    await runner.drain();
    await h.deliverTasks(orgId, {
      type: 'ApprovalDecided',
      data: { approvalId: randomUUID(), taskId, runId, agentId: agents.SUPPORT!, approved: false, reason: 'tone is off', decidedBy: randomUUID() },
    });
    const row = await h.runRow(runId);
    expect(row).toMatchObject({ status: 'CANCELLED', error: 'Approval rejected: tone is off' });
    expect(await runner.runOnce()).toBeNull();
    expect((await h.checkpoints(runId)).map((c) => c.state.step)).not.toContain('send-reply');
  });

  it('a crashed worker: the lease lapses, the supervisor re-queues, another worker resumes from the last checkpoint', async () => {
    const calls: string[] = [];
    const counting: Specialist = {
      steps: ['one', 'two', 'three'].map((name) => ({
        name,
        run: ({ data }) => {
          calls.push(name);
          return { data: { [name]: true, seen: [...((data.seen as string[]) ?? []), name] } };
        },
      })),
      result: (d) => d.seen,
    };
    const { runId } = await queuedRun('ENGINEERING', 'Fix the flaky build');
    const crashing = createRunner(runnerOpts({ workerId: 'worker-a', leaseMs: 200, specialists: { ENGINEERING: counting } }));
    const claimed = await crashing.claim();
    expect(claimed).toMatchObject({ runId, attempt: 1, lastSeq: 0 });
    expect(await crashing.step(claimed!)).toBe('continue');
    // worker-a dies here: no more heartbeats, no more steps.
    expect(await crashing.superviseOnce()).toBe(0); // the lease has not lapsed yet
    await sleep(300);
    const healthy = createRunner(runnerOpts({ workerId: 'worker-b', specialists: { ENGINEERING: counting } }));
    expect(await healthy.superviseOnce()).toBe(1);
    expect(await h.runRow(runId)).toMatchObject({ status: 'QUEUED', attempt: 2 });
    expect(await healthy.drain()).toEqual(['succeeded']);
    expect(calls).toEqual(['one', 'two', 'three']); // step one ran once: resumed from its checkpoint
    const cps = await h.checkpoints(runId);
    expect(cps.map((c) => c.seq)).toEqual([1, 2, 3]);
    expect(cps[2]!.state.data.seen).toEqual(['one', 'two', 'three']);
    // The stale worker comes back: its writes are fenced off.
    expect(await crashing.step(claimed!)).toBe('lost');
    expect(await h.runRow(runId)).toMatchObject({ status: 'SUCCEEDED', attempt: 2 });
    expect(await h.eventTypes(runId)).toContain('AgentRunRequeued');
  });

  it('poison work (a step that always fails) is dead-lettered after max attempts, never loops', async () => {
    let calls = 0;
    const poison: Specialist = {
      steps: [
        { name: 'ok', run: () => ({ data: { ok: true } }) },
        {
          name: 'explode',
          run: () => {
            calls++;
            throw new Error('cannot parse the task');
          },
        },
      ],
      result: () => null,
    };
    const { runId } = await queuedRun('OPERATIONS', 'Poison');
    const runner = createRunner(runnerOpts({ specialists: { OPERATIONS: poison } }));
    expect(await runner.drain()).toEqual(['requeued', 'requeued', 'failed']);
    expect(calls).toBe(3);
    const row = await h.runRow(runId);
    expect(row).toMatchObject({ status: 'FAILED', attempt: 3, dead_lettered: true });
    expect(row.error).toMatch(/explode: cannot parse the task.*gave up after 3 attempts/);
    expect(await runner.runOnce()).toBeNull();
    // Only the first step's checkpoint exists; every retry resumed after it.
    expect((await h.checkpoints(runId)).map((c) => c.state.step)).toEqual(['ok']);
  });

  it('a run whose worker keeps crashing is dead-lettered by the supervisor after max attempts', async () => {
    const { runId } = await queuedRun('SALES', 'Crashes every time');
    for (let attempt = 1; attempt <= 3; attempt++) {
      const dying = createRunner(runnerOpts({ leaseMs: 50 }));
      expect(await dying.claim()).toMatchObject({ runId, attempt });
      await sleep(80);
      expect(await dying.superviseOnce()).toBe(1);
    }
    expect(await h.runRow(runId)).toMatchObject({ status: 'FAILED', attempt: 3, dead_lettered: true });
  });

  it('two workers never claim the same run (FOR UPDATE SKIP LOCKED)', async () => {
    const a = await queuedRun('RESEARCH', 'one');
    const b = await queuedRun('RESEARCH', 'two');
    const w1 = createRunner(runnerOpts({ workerId: 'w1' }));
    const w2 = createRunner(runnerOpts({ workerId: 'w2' }));
    const [c1, c2, c3] = await Promise.all([w1.claim(), w2.claim(), w1.claim()]);
    const claimed = [c1, c2, c3].filter((c) => c !== null).map((c) => c!.runId);
    expect(claimed.sort()).toEqual([a.runId, b.runId].sort());
    for (const c of [c1, c2, c3]) if (c) await (c.workerId === 'w1' ? w1 : w2).execute(c);
    expect((await h.runRow(a.runId)).status).toBe('SUCCEEDED');
    expect((await h.runRow(b.runId)).status).toBe('SUCCEEDED');
  });

  it('heartbeats keep a long step alive past the lease', async () => {
    const slow: Specialist = {
      steps: [
        {
          name: 'slow',
          run: async () => {
            await sleep(600);
            return { data: { done: true } };
          },
        },
      ],
      result: () => 'ok',
    };
    const { runId } = await queuedRun('SUCCESS', 'slow');
    const worker = createRunner(runnerOpts({ leaseMs: 300, heartbeatMs: 50, specialists: { SUCCESS: slow } }));
    const supervisor = createRunner(runnerOpts());
    const c = await worker.claim();
    const done = worker.execute(c!);
    for (let i = 0; i < 6; i++) {
      await sleep(100);
      expect(await supervisor.superviseOnce()).toBe(0);
    }
    expect(await done).toBe('succeeded');
    expect((await h.runRow(runId)).attempt).toBe(1);
  });
});
