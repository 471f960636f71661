/**
 * The worker protocol against the agents subgraph and a real Postgres: claims, fencing tokens, heartbeats, checkpoints
 * with step records, approvals, completion, failures with backoff, the supervisor, and what a worker may not do.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '@cos/auth';
import { execSubgraph, userPrincipal } from '@cos/testing';
import { createSupervisor } from '../src/supervisor';
import { log, setupAgents, type AgentsHarness } from './harness';

let h: AgentsHarness;
beforeAll(async () => {
  h = await setupAgents({ maxAttempts: 3, retry: { baseMs: 1, maxMs: 1 } });
});
afterAll(async () => {
  await h?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const workerOf = (orgId: string, scopes = ['agents:work']): Principal => ({ kind: 'service', serviceId: randomUUID(), orgId, scopes });

const CLAIM = /* GraphQL */ `mutation($kinds: [AgentKind!]!, $lease: Int, $worker: String) {
  claimAgentRun(kinds: $kinds, leaseSeconds: $lease, worker: $worker) {
    token attempt leaseExpiresAt run { id status workerId agent { kind } } task { id title description priority customerId }
    resumeFrom { seq state } approval { approvalId reason } } }`;
const HEARTBEAT = /* GraphQL */ `mutation($id: ID!, $token: String!) { heartbeatAgentRun(id: $id, token: $token) { runId leaseExpiresAt } }`;
const CHECKPOINT = /* GraphQL */ `mutation($id: ID!, $token: String!, $step: AgentStepInput!, $data: JSON!, $seq: Int) {
  checkpointAgentRun(id: $id, token: $token, step: $step, data: $data, seq: $seq) { seq state } }`;
const ASK = /* GraphQL */ `mutation($id: ID!, $token: String!, $action: String!, $payload: JSON) {
  requestApproval(runId: $id, token: $token, action: $action, payload: $payload) { id status } }`;
const COMPLETE = /* GraphQL */ `mutation($id: ID!, $token: String!, $result: JSON) { completeAgentRun(id: $id, token: $token, result: $result) { id status result } }`;
const FAIL = /* GraphQL */ `mutation($id: ID!, $token: String!, $reason: String!, $retryable: Boolean) {
  failAgentRun(id: $id, token: $token, reason: $reason, retryable: $retryable) { id status attempt error } }`;
const RUN = /* GraphQL */ `query($id: ID!) { agentRun(id: $id) { id status attempt workerId leaseExpiresAt result error
  steps { seq name model prompt modelCalls tokens promptTokens completionTokens costUsd toolCalls { name arguments result error durationMs } }
  usage { modelCalls toolCalls promptTokens completionTokens totalTokens costUsd } checkpoints { seq } } }`;

type Claim = {
  token: string;
  attempt: number;
  leaseExpiresAt: string;
  run: { id: string; status: string; workerId: string; agent: { kind: string } };
  task: { id: string; title: string } | null;
  resumeFrom: { seq: number; state: unknown } | null;
  approval: { approvalId: string; reason: string | null } | null;
};

const step = (name: string, extra: Record<string, unknown> = {}) => ({ name, ...extra });
const codes = (r: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => (r.errors ?? []).map((e) => e.extensions?.code);

/** Each test gets its own organization, so claims in one never see another's runs. */
async function queued(kind: string, title = 'Customer asks about the refund') {
  const { orgId, agents } = await h.createOrg();
  const taskId = await h.createTask(orgId, title, { id: agents[kind]!, kind: 'Agent' }, 'the invoice was charged twice');
  const [run] = await h.runs(orgId, taskId);
  return { orgId, taskId, runId: run!.id, agents, worker: workerOf(orgId) };
}

async function claim(p: Principal, kinds: string[], lease = 60): Promise<Claim | null> {
  const r = await execSubgraph<{ claimAgentRun: Claim | null }>(h.subgraph, p, CLAIM, { kinds, lease, worker: 'host-1:42' });
  expect(r.errors).toBeUndefined();
  return r.data!.claimAgentRun;
}

const eventCount = async () => (await h.systemDb.query<{ n: number }>({ orgId: null }, 'SELECT count(*)::int AS n FROM events'))[0]!.n;

describe('worker protocol', () => {
  it('claims the oldest queued run of its kinds, with a fencing token, the task snapshot and a lease', async () => {
    const { runId, taskId, worker } = await queued('SUPPORT');
    expect(await claim(worker, ['TRIAGE'])).toBeNull();
    const c = (await claim(worker, ['SUPPORT', 'TRIAGE']))!;
    expect(c).toMatchObject({ attempt: 1, run: { id: runId, status: 'RUNNING', agent: { kind: 'SUPPORT' } }, resumeFrom: null, approval: null });
    expect(c.run.workerId).toBe(`service:${(worker as { serviceId: string }).serviceId}/host-1:42`);
    expect(c.task).toMatchObject({ id: taskId, title: 'Customer asks about the refund', description: 'the invoice was charged twice' });
    expect(c.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(c.leaseExpiresAt) - Date.now()).toBeGreaterThan(50_000);
    expect(await claim(worker, ['SUPPORT'])).toBeNull(); // held: nothing else queued
    // The token itself is nowhere in the event store, only its hash.
    const leaked = await h.systemDb.query({ orgId: null }, `SELECT 1 FROM events WHERE data::text LIKE '%' || $1 || '%'`, [c.token]);
    expect(leaked).toHaveLength(0);
  });

  it('checkpoints record steps, tokens, cost and tool calls; a retried seq writes nothing; the run completes', async () => {
    const { runId, worker } = await queued('TRIAGE');
    const c = (await claim(worker, ['TRIAGE']))!;
    const s1 = step('assess', {
      model: 'openai:test-model',
      prompt: 'triage/assess@v1',
      modelCalls: 2,
      promptTokens: 120,
      completionTokens: 30,
      costUsd: 0.0015,
      startedAt: '2026-01-01T00:00:00Z',
      finishedAt: '2026-01-01T00:00:02Z',
      toolCalls: [{ name: 'search_tasks', arguments: { query: 'refund' }, result: { totalCount: 0 }, durationMs: 12 }],
    });
    const r1 = await execSubgraph<{ checkpointAgentRun: { seq: number; state: unknown } }>(h.subgraph, worker, CHECKPOINT, {
      id: runId,
      token: c.token,
      step: s1,
      data: { next: 1, data: { proposedPriority: 'HIGH' } },
      seq: 1,
    });
    expect(r1.errors).toBeUndefined();
    expect(r1.data!.checkpointAgentRun).toEqual({ seq: 1, state: { next: 1, data: { proposedPriority: 'HIGH' } } });
    const before = await eventCount();
    const again = await execSubgraph(h.subgraph, worker, CHECKPOINT, { id: runId, token: c.token, step: s1, data: { next: 1 }, seq: 1 });
    expect(again.errors).toBeUndefined();
    expect(await eventCount()).toBe(before);
    const gap = await execSubgraph(h.subgraph, worker, CHECKPOINT, { id: runId, token: c.token, step: s1, data: {}, seq: 5 });
    expect(codes(gap)).toEqual(['CONFLICT']);

    const done = await execSubgraph<{ completeAgentRun: { status: string; result: unknown } }>(h.subgraph, worker, COMPLETE, {
      id: runId,
      token: c.token,
      result: { proposedPriority: 'HIGH' },
    });
    expect(done.data!.completeAgentRun).toEqual({ id: runId, status: 'SUCCEEDED', result: { proposedPriority: 'HIGH' } });
    const run = (await execSubgraph<{ agentRun: Record<string, any> }>(h.subgraph, userPrincipal(randomUUID(), (worker as any).orgId, 'VIEWER'), RUN, { id: runId }))
      .data!.agentRun;
    expect(run.steps).toEqual([
      {
        seq: 1,
        name: 'assess',
        model: 'openai:test-model',
        prompt: 'triage/assess@v1',
        modelCalls: 2,
        tokens: 150,
        promptTokens: 120,
        completionTokens: 30,
        costUsd: 0.0015,
        toolCalls: [{ name: 'search_tasks', arguments: { query: 'refund' }, result: { totalCount: 0 }, error: null, durationMs: 12 }],
      },
    ]);
    expect(run.usage).toEqual({ modelCalls: 2, toolCalls: 1, promptTokens: 120, completionTokens: 30, totalTokens: 150, costUsd: 0.0015 });
    expect(run).toMatchObject({ workerId: null, leaseExpiresAt: null });
  });

  it('a stale token (lease lapsed, run re-claimed) is refused with LEASE_LOST and writes nothing', async () => {
    const { runId, orgId, worker } = await queued('RESEARCH');
    const first = (await claim(worker, ['RESEARCH'], 5))!;
    await h.systemDb.query({ orgId: null }, `UPDATE agent_runs SET lease_until = now() - interval '1 second' WHERE id = $1`, [runId]);
    const supervisor = createSupervisor({ db: h.systemDb, log, intervalMs: 1_000, retry: { baseMs: 1, maxMs: 1 } });
    expect(await supervisor.superviseOnce()).toBe(1);
    await sleep(5);
    const second = (await claim(workerOf(orgId), ['RESEARCH']))!;
    expect(second).toMatchObject({ attempt: 2, run: { id: runId } });

    const before = await eventCount();
    const attempts: Array<[string, Record<string, unknown>]> = [
      [HEARTBEAT, { id: runId, token: first.token }],
      [CHECKPOINT, { id: runId, token: first.token, step: step('late'), data: {} }],
      [ASK, { id: runId, token: first.token, action: 'support.sendReply', payload: { draft: 'hi' } }],
      [COMPLETE, { id: runId, token: first.token, result: 'mine' }],
      [FAIL, { id: runId, token: first.token, reason: 'x' }],
    ];
    for (const [q, v] of attempts) {
      const r = await execSubgraph(h.subgraph, worker, q, v);
      expect(codes(r), q).toEqual(['LEASE_LOST']);
    }
    expect(await eventCount()).toBe(before);
    const ok = await execSubgraph(h.subgraph, worker, HEARTBEAT, { id: runId, token: second.token });
    expect(ok.errors).toBeUndefined();
  });

  it('heartbeats renew the lease; a cancelled run answers LEASE_LOST to its worker', async () => {
    const { runId, orgId, worker } = await queued('SALES');
    const c = (await claim(worker, ['SALES'], 5))!;
    await sleep(1_100);
    const beat = await execSubgraph<{ heartbeatAgentRun: { leaseExpiresAt: string } }>(h.subgraph, worker, HEARTBEAT, { id: runId, token: c.token });
    expect(Date.parse(beat.data!.heartbeatAgentRun.leaseExpiresAt)).toBeGreaterThan(Date.parse(c.leaseExpiresAt));
    const cancelled = await execSubgraph(h.subgraph, userPrincipal(randomUUID(), orgId), `mutation($id: ID!) { cancelAgentRun(id: $id) { status } }`, { id: runId });
    expect(cancelled.errors).toBeUndefined();
    expect(codes(await execSubgraph(h.subgraph, worker, HEARTBEAT, { id: runId, token: c.token }))).toEqual(['LEASE_LOST']);
  });

  it('an approval pauses the run; the decision re-queues it and the next claim resumes after the last checkpoint', async () => {
    const { runId, orgId, taskId, agents, worker } = await queued('SUPPORT');
    const c = (await claim(worker, ['SUPPORT']))!;
    await execSubgraph(h.subgraph, worker, CHECKPOINT, { id: runId, token: c.token, step: step('draft-reply'), data: { next: 2, data: { draft: 'Hello' } }, seq: 1 });
    const bad = await execSubgraph(h.subgraph, worker, ASK, { id: runId, token: c.token, action: 'support.sendReply', payload: { draft: '' } });
    expect(codes(bad)).toEqual(['BAD_USER_INPUT']);
    expect(bad.errors![0]!.extensions!.field).toBe('payload');
    const badName = await execSubgraph(h.subgraph, worker, ASK, { id: runId, token: c.token, action: 'DROP TABLE', payload: {} });
    expect(badName.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'action' });
    const asked = await execSubgraph<{ requestApproval: { status: string } }>(h.subgraph, worker, ASK, {
      id: runId,
      token: c.token,
      action: 'support.sendReply',
      payload: { draft: 'Hello' },
    });
    expect(asked.data!.requestApproval.status).toBe('WAITING_FOR_APPROVAL');
    expect(await claim(worker, ['SUPPORT'])).toBeNull();

    const approvalId = randomUUID();
    await h.deliverTasks(orgId, {
      type: 'ApprovalDecided',
      data: { approvalId, taskId, runId, agentId: agents.SUPPORT!, approved: true, reason: 'send it', decidedBy: randomUUID() },
    });
    const resumed = (await claim(worker, ['SUPPORT']))!;
    expect(resumed).toMatchObject({
      attempt: 1,
      resumeFrom: { seq: 1, state: { next: 2, data: { draft: 'Hello' } } },
      approval: { approvalId, reason: 'send it' },
    });
    expect(resumed.token).not.toBe(c.token);
    expect(await h.eventTypes(runId)).toEqual([
      'AgentRunQueued',
      'AgentRunStarted',
      'AgentRunCheckpointed',
      'AgentRunApprovalRequested',
      'AgentRunResumed',
      'AgentRunStarted',
    ]);
  });

  it('a retryable failure re-queues with backoff (attempt+1); a non-retryable one fails the run; max attempts dead-letter', async () => {
    const { runId, worker } = await queued('ENGINEERING');
    const c1 = (await claim(worker, ['ENGINEERING']))!;
    const f1 = await execSubgraph<{ failAgentRun: { status: string; attempt: number; error: string } }>(h.subgraph, worker, FAIL, {
      id: runId,
      token: c1.token,
      reason: 'model timed out',
    });
    expect(f1.data!.failAgentRun).toMatchObject({ status: 'QUEUED', attempt: 2, error: 'attempt 1 failed: model timed out' });
    await sleep(5);
    const c2 = (await claim(worker, ['ENGINEERING']))!;
    expect(c2.attempt).toBe(2);
    const f2 = await execSubgraph<{ failAgentRun: { status: string; error: string } }>(h.subgraph, worker, FAIL, {
      id: runId,
      token: c2.token,
      reason: 'the task makes no sense',
      retryable: false,
    });
    expect(f2.data!.failAgentRun).toMatchObject({ status: 'FAILED', error: 'the task makes no sense' });

    const other = await queued('OPERATIONS');
    for (let attempt = 1; attempt <= 3; attempt++) {
      await sleep(5);
      const c = (await claim(other.worker, ['OPERATIONS']))!;
      expect(c.attempt).toBe(attempt);
      await execSubgraph(h.subgraph, other.worker, FAIL, { id: other.runId, token: c.token, reason: 'boom' });
    }
    expect(await h.runRow(other.runId)).toMatchObject({ status: 'FAILED', attempt: 3, dead_lettered: true });
    expect(await claim(other.worker, ['OPERATIONS'])).toBeNull();
  });

  it('a re-queued run is not claimable before its retry time', async () => {
    const { runId, worker } = await queued('SUCCESS');
    const c = (await claim(worker, ['SUCCESS']))!;
    await execSubgraph(h.subgraph, worker, FAIL, { id: runId, token: c.token, reason: 'flaky' });
    await h.systemDb.query({ orgId: null }, `UPDATE agent_runs SET not_before = now() + interval '1 hour' WHERE id = $1`, [runId]);
    expect(await claim(worker, ['SUCCESS'])).toBeNull();
    await h.systemDb.query({ orgId: null }, `UPDATE agent_runs SET not_before = now() - interval '1 second' WHERE id = $1`, [runId]);
    expect((await claim(worker, ['SUCCESS']))!.attempt).toBe(2);
  });

  it('the supervisor dead-letters a run whose workers keep vanishing', async () => {
    const { runId, worker } = await queued('SALES', 'crashes every time');
    const supervisor = createSupervisor({ db: h.systemDb, log, intervalMs: 1_000, retry: { baseMs: 1, maxMs: 1 } });
    for (let attempt = 1; attempt <= 3; attempt++) {
      await sleep(5);
      expect((await claim(worker, ['SALES'], 5))!.attempt).toBe(attempt);
      await h.systemDb.query({ orgId: null }, `UPDATE agent_runs SET lease_until = now() - interval '1 second' WHERE id = $1`, [runId]);
      expect(await supervisor.superviseOnce()).toBe(1);
    }
    expect(await h.runRow(runId)).toMatchObject({ status: 'FAILED', attempt: 3, dead_lettered: true });
  });

  it('two workers never claim the same run (FOR UPDATE SKIP LOCKED)', async () => {
    const { orgId, agents } = await h.createOrg();
    for (const t of ['one', 'two']) await h.createTask(orgId, t, { id: agents.RESEARCH!, kind: 'Agent' });
    const claims = await Promise.all([0, 1, 2, 3].map(() => claim(workerOf(orgId), ['RESEARCH'])));
    const ids = claims.filter((c) => c !== null).map((c) => c!.run.id);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
  });

  it("a worker sees and touches only its own organization's runs", async () => {
    const a = await queued('TRIAGE');
    const b = await queued('TRIAGE');
    const cb = (await claim(b.worker, ['TRIAGE']))!;
    const ca = (await claim(a.worker, ['TRIAGE']))!;
    expect(ca.run.id).toBe(a.runId);
    // A's worker with B's run id and B's own token: as if the run did not exist.
    for (const [q, v] of [
      [HEARTBEAT, { id: b.runId, token: cb.token }],
      [CHECKPOINT, { id: b.runId, token: cb.token, step: step('x'), data: {} }],
      [COMPLETE, { id: b.runId, token: cb.token, result: null }],
    ] as Array<[string, Record<string, unknown>]>) {
      expect(codes(await execSubgraph(h.subgraph, a.worker, q, v))).toEqual(['NOT_FOUND']);
    }
    expect((await h.runRow(b.runId)).status).toBe('RUNNING');
  });

  it('only agents:work may use the protocol; bad input is refused with the field named', async () => {
    const { orgId, runId, worker } = await queued('TRIAGE');
    for (const p of [userPrincipal(randomUUID(), orgId, 'OWNER'), workerOf(orgId, ['agents:read', 'tasks:read'])]) {
      const r = await execSubgraph(h.subgraph, p, CLAIM, { kinds: ['TRIAGE'] });
      expect(codes(r)).toEqual(['FORBIDDEN']);
    }
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ kinds: [] }, 'kinds'],
      [{ kinds: ['TRIAGE'], lease: 1 }, 'leaseSeconds'],
      [{ kinds: ['TRIAGE'], lease: 3600 }, 'leaseSeconds'],
      [{ kinds: ['TRIAGE'], worker: 'x'.repeat(101) }, 'worker'],
    ];
    for (const [vars, field] of cases) {
      const r = await execSubgraph(h.subgraph, worker, CLAIM, vars);
      expect(r.errors?.[0]?.extensions, JSON.stringify(vars)).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    const c = (await claim(worker, ['TRIAGE']))!;
    const before = await eventCount();
    const big = 'x'.repeat(300 * 1024);
    const limits: Array<[Record<string, unknown>, string]> = [
      [{ step: step('s'), data: { big } }, 'data'],
      [{ step: step(''), data: {} }, 'step.name'],
      [{ step: step('s', { toolCalls: Array.from({ length: 51 }, () => ({ name: 't' })) }), data: {} }, 'step.toolCalls'],
      [{ step: step('s', { promptTokens: -1 }), data: {} }, 'step.promptTokens'],
      [{ step: step('s', { toolCalls: [{ name: 'bad name!' }] }), data: {} }, 'step.toolCalls.0.name'],
      [{ step: step('s', { startedAt: 'yesterday' }), data: {} }, 'step.startedAt'],
    ];
    for (const [vars, field] of limits) {
      const r = await execSubgraph(h.subgraph, worker, CHECKPOINT, { id: runId, token: c.token, ...vars });
      expect(r.errors?.[0]?.extensions, field).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    expect(codes(await execSubgraph(h.subgraph, worker, COMPLETE, { id: runId, token: c.token, result: { big: 'y'.repeat(70 * 1024) } }))).toEqual([
      'BAD_USER_INPUT',
    ]);
    expect(codes(await execSubgraph(h.subgraph, worker, HEARTBEAT, { id: 'not-an-id', token: c.token }))).toEqual(['BAD_USER_INPUT']);
    expect(await eventCount()).toBe(before);
  });
});
