/**
 * Issue 11, done when: end to end through the gateway, a worker process claims a run, calls the model (a local
 * OpenAI-compatible server), checkpoints, is killed with SIGKILL mid-step, the run is re-claimed after its lease lapses
 * and resumes from its last checkpoint, asks for approval, a person approves over the graph, the run completes —
 * exactly one effect. Also: the worker subscriptions (agentRunQueued by kind) and approvalRequested delivering.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { eventually, gql, gqlOk } from '../scripts/lib/graphql-client';
import { startFakeModel, type ChatRequest, type FakeModel, type Reply } from '../agent-worker/test/support/fake-model';
import { startTestStack, type TestStack } from './support/test-stack';

let t: TestStack;
let fake: FakeModel;
let token: string;
let ownerId: string;
let agentIds: Record<string, string>;
let customerId: string;

const WAIT = 30_000;
const ok = <T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}) => gqlOk<T>(t.gatewayUrl, query, variables, { token });

/** What the model server answers, by the step the request is for (the system prompt says which). */
let hangNextDraft = true;
const stepOf = (req: ChatRequest) => {
  const system = req.messages[0]?.content ?? '';
  if (system.includes('You read a customer request')) return 'analyze';
  if (system.includes('You draft the reply')) return 'draft';
  return 'other';
};
function modelReply(req: ChatRequest): Reply {
  const step = stepOf(req);
  if (step === 'analyze') return { content: JSON.stringify({ summary: 'The customer was charged twice and wants a refund.', severity: 'HIGH' }), usage: [310, 40] };
  if (step === 'draft') {
    const calledTools = req.messages.some((m) => m.role === 'tool');
    if (!calledTools) return { toolCalls: [{ name: 'get_customer', arguments: { customerId } }], usage: [420, 25] };
    const answer: Reply = { content: JSON.stringify({ draft: 'Hello Umbrella team, we refunded the duplicate charge today.' }), usage: [600, 60] };
    if (hangNextDraft) {
      // The first worker is killed while it waits for this answer.
      hangNextDraft = false;
      return { delayMs: 120_000, then: answer };
    }
    return answer;
  }
  return { status: 400, body: { error: { message: `unexpected prompt: ${(req.messages[0]?.content ?? '').slice(0, 80)}` } } };
}

beforeAll(async () => {
  fake = await startFakeModel();
  fake.fallback = modelReply;
  t = await startTestStack({ extraEnv: { LOG_LEVEL: 'info', AGENTS_SUPERVISOR_MS: '500', AGENTS_RETRY_BASE_MS: '200', AGENTS_RETRY_MAX_MS: '500' } });
  const r = await gqlOk(
    t.gatewayUrl,
    `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken user { id } } }`,
    { input: { email: 'wanda@workers.test', password: 'correct horse battery', name: 'Wanda Owner', organizationName: 'Workers Inc' } },
  );
  token = r.signUp.accessToken;
  ownerId = r.signUp.user.id;
  agentIds = await eventually(async () => {
    const a = await ok<{ agents: { id: string; kind: string }[] }>(`{ agents { id kind } }`);
    return a.agents.length === 7 ? Object.fromEntries(a.agents.map((x) => [x.kind, x.id])) : null;
  }, WAIT);
  customerId = (await ok(`mutation { createCustomer(input: { name: "Umbrella", plan: "pro" }) { id } }`)).createCustomer.id;
}, 180_000);

afterAll(async () => {
  await t?.stop();
  await fake?.close();
});

const RUN = `query($id: ID!) { agentRun(id: $id) { id status attempt error result
  steps { seq name model prompt modelCalls tokens toolCalls { name arguments error } }
  usage { modelCalls toolCalls totalTokens } } }`;

describe('agents work through the graph: external worker, a model, a crash, an approval', () => {
  it('SIGKILL mid-step → re-claimed after the lease lapses → resumes from the last checkpoint → approved → one effect', async () => {
    const model = {
      MODEL_PROVIDER: 'openai',
      MODEL_BASE_URL: fake.url,
      MODEL_API_KEY: 'sk-e2e',
      MODEL_NAME: 'test-model',
      MODEL_TIMEOUT_MS: '150000',
      MODEL_MAX_RETRIES: '0',
      WORKER_LEASE_SECONDS: '5',
    };
    const first = await t.startWorker({ adminToken: token, name: 'worker-1', kinds: ['SUPPORT'], env: model });

    const task = (
      await ok(`mutation($c: ID!, $a: ID!) { createTask(input: { title: "Charged twice for March", customerId: $c, assigneeId: $a }) { id } }`, {
        c: customerId,
        a: agentIds.SUPPORT,
      })
    ).createTask.id as string;
    const runId = await eventually(async () => (await ok(`query($id: ID!) { task(id: $id) { agentRuns { id } } }`, { id: task })).task.agentRuns[0]?.id ?? null, WAIT);

    // Worker 1 analyses (checkpoint 1), calls get_customer through the graph, then waits for the model's draft...
    await eventually(async () => (fake.requests.filter((r) => stepOf(r.body) === 'draft').length >= 2 ? true : null), WAIT);
    const mid = (await ok(RUN, { id: runId })).agentRun;
    expect(mid).toMatchObject({ status: 'RUNNING', attempt: 1 });
    expect(mid.steps.map((s: { name: string }) => s.name)).toEqual(['analyze']);
    // ...and dies.
    first.process.child.kill('SIGKILL');
    await new Promise((r) => first.process.child.once('exit', r));

    // Worker 2 starts with a poll interval far beyond the test: only agentRunQueued can wake it in time.
    await t.startWorker({ adminToken: token, name: 'worker-2', kinds: ['SUPPORT'], env: { ...model, WORKER_POLL_MS: '600000' } });
    // The lease lapses (5 s), the supervisor re-queues the run (attempt 2), worker 2 claims it and resumes after
    // checkpoint 1: the analysis is not asked of the model again.
    const approval = await eventually(async () => {
      const p = await ok(`{ pendingApprovals { id action payload task { id status } requestedBy { id } } }`);
      return p.pendingApprovals.find((a: { task: { id: string } }) => a.task.id === task) ?? null;
    }, WAIT).catch((err: Error) => {
      throw new Error(`${err.message}\n${JSON.stringify(fake.requests.map((r) => stepOf(r.body)))}\n${t.logs(40)}`);
    });
    expect(approval).toMatchObject({ action: 'support.sendReply', task: { status: 'AWAITING_APPROVAL' }, requestedBy: { id: agentIds.SUPPORT } });
    expect(approval.payload.draft).toBe('Hello Umbrella team, we refunded the duplicate charge today.');
    expect(fake.requests.filter((r) => stepOf(r.body) === 'analyze')).toHaveLength(1);
    const waiting = (await ok(RUN, { id: runId })).agentRun;
    expect(waiting).toMatchObject({ status: 'WAITING_FOR_APPROVAL', attempt: 2 });
    expect(waiting.error).toMatch(/lease of service:.*worker-1.* lapsed/);

    // A person approves over the graph; the decision posts the reply and re-queues the run; worker 2 finishes it.
    const decided = await ok(`mutation($id: ID!) { decideApproval(id: $id, approve: true, reason: "good") { status } }`, { id: approval.id });
    expect(decided.decideApproval.status).toBe('APPROVED');
    const done = await eventually(async () => {
      const r = (await ok(RUN, { id: runId })).agentRun;
      return r.status === 'SUCCEEDED' ? r : null;
    }, 15_000);
    expect(done.result).toEqual({
      posted: true,
      commentId: approval.id,
      reply: 'Hello Umbrella team, we refunded the duplicate charge today.',
      approvalId: approval.id,
    });

    // Exactly one effect: one reply on the task, by the approver, drafted by the SUPPORT agent.
    const comments = (await ok(`query($id: ID!) { task(id: $id) { status comments { id body author { id } draftedBy { kind } } } }`, { id: task })).task;
    expect(comments.comments).toEqual([
      { id: approval.id, body: 'Hello Umbrella team, we refunded the duplicate charge today.', author: { id: ownerId }, draftedBy: { kind: 'SUPPORT' } },
    ]);

    // What the worker did, step by step, visible in the graph.
    expect(done.steps.map((s: { name: string }) => s.name)).toEqual(['analyze', 'draft-reply', 'request-send-approval', 'confirm-posted']);
    const [analyze, draft] = done.steps;
    expect(analyze).toMatchObject({ model: 'openai:test-model', prompt: 'support/analyze@v1', modelCalls: 1, tokens: 350 });
    expect(draft).toMatchObject({ model: 'openai:test-model', prompt: 'support/draft-reply@v1', modelCalls: 2, tokens: 1105 });
    expect(draft.toolCalls).toEqual([{ name: 'get_customer', arguments: { customerId }, error: null }]);
    expect(done.usage).toMatchObject({ modelCalls: 3, totalTokens: 1455 });
    expect(done.steps[3].toolCalls.map((c: { name: string }) => c.name)).toEqual(['get_task']);

    // The event history: one success, the lapse, and nothing written by the dead worker after it died.
    const admin = new pg.Client({ connectionString: t.db.adminUrl });
    await admin.connect();
    const events = await admin
      .query<{ type: string }>(`SELECT type FROM agents.events WHERE stream_id = $1 ORDER BY version`, [`AgentRun-${runId}`])
      .finally(() => admin.end());
    expect(events.rows.map((e) => e.type)).toEqual([
      'AgentRunQueued',
      'AgentRunStarted',
      'AgentRunCheckpointed',
      'AgentRunRequeued',
      'AgentRunStarted',
      'AgentRunCheckpointed',
      'AgentRunApprovalRequested',
      'AgentRunResumed',
      'AgentRunStarted',
      'AgentRunCheckpointed',
      'AgentRunCheckpointed',
      'AgentRunSucceeded',
    ]);

    // Cost metrics on the agents service's /metrics.
    const metrics = await (await fetch(t.stack.serviceUrl('agents').replace('/graphql', '/metrics'))).text();
    expect(metrics).toMatch(/cos_agent_model_tokens_total\{[^}]*agent_kind="SUPPORT"[^}]*model="openai:test-model"[^}]*type="prompt"[^}]*\} 1330/);
    expect(metrics).toMatch(/cos_agent_tool_calls_total\{[^}]*tool="get_customer"[^}]*\} 1/);
  });

  it('agentRunQueued wakes workers of the right kinds only; approvalRequested reaches people', async () => {
    const worker = await gqlOk<{ createServiceAccount: { secret: string } }>(
      t.gatewayUrl,
      `mutation { createServiceAccount(name: "listener") { secret } }`,
      {},
      { token },
    );
    const sub = (authorization: string, query: string, variables: Record<string, unknown> = {}) => {
      const seen: any[] = [];
      const errors: unknown[] = [];
      const client = createClient({ url: t.gatewayUrl.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization }, retryAttempts: 0, lazy: false });
      const stop = client.subscribe({ query, variables }, { next: (v) => void seen.push(v), error: (e) => void errors.push(e), complete: () => {} });
      return { seen, errors, dispose: () => (stop(), client.dispose()) };
    };
    const triage = sub(`ApiKey ${worker.createServiceAccount.secret}`, `subscription($k: [AgentKind!]) { agentRunQueued(kinds: $k) { id status agent { kind } } }`, { k: ['TRIAGE'] });
    const research = sub(`ApiKey ${worker.createServiceAccount.secret}`, `subscription($k: [AgentKind!]) { agentRunQueued(kinds: $k) { id } }`, { k: ['RESEARCH'] });
    const inbox = sub(`Bearer ${token}`, `subscription { approvalRequested { id action status task { id status } } }`);
    const people = sub(`Bearer ${token}`, `subscription { agentRunQueued { id } }`);
    try {
      await new Promise((r) => setTimeout(r, 1_500)); // subscriptions register asynchronously
      const id = (await ok(`mutation($a: ID!) { createTask(input: { title: "Triage me", assigneeId: $a }) { id } }`, { a: agentIds.TRIAGE })).createTask.id;
      const got = await eventually(async () => triage.seen.find((v) => v.data?.agentRunQueued) ?? null, 15_000);
      expect(got.data.agentRunQueued.agent.kind).toBe('TRIAGE');
      expect(research.seen).toEqual([]);
      // A person (no agents:work) may not subscribe as a worker.
      await eventually(async () => (people.errors.length > 0 || people.seen.some((v) => v.errors) ? true : null), 10_000);
      const refused = (people.errors[0] as any[] | undefined)?.[0] ?? people.seen.find((v) => v.errors)?.errors?.[0];
      expect(refused?.extensions?.code).toBe('FORBIDDEN');

      // The approvalRequested inbox is live (the SUPPORT task of the first test's kind, answered by no worker here:
      // a plain worker-less request through a second SUPPORT task would wait for a worker, so ask directly).
      const support = await t.startWorker({ adminToken: token, name: 'worker-3', kinds: ['SUPPORT'] });
      const asked = (await ok(`mutation($a: ID!) { createTask(input: { title: "Where is my invoice?", assigneeId: $a }) { id } }`, { a: agentIds.SUPPORT })).createTask.id;
      const delivered = await eventually(async () => inbox.seen.find((v) => v.data?.approvalRequested?.task?.id === asked) ?? null, WAIT);
      expect(delivered.errors).toBeUndefined();
      expect(delivered.data.approvalRequested).toMatchObject({ action: 'support.sendReply', status: 'PENDING' });
      support.process.child.kill('SIGTERM');
      void id;
    } finally {
      for (const s of [triage, research, inbox, people]) s.dispose();
    }
  });

  it('a tool call the worker’s scopes or organization do not cover returns nothing', async () => {
    // A service account without read scopes: the graph refuses its tool reads.
    const bare = await gqlOk<{ createServiceAccount: { secret: string } }>(t.gatewayUrl, `mutation { createServiceAccount(name: "bare") { secret } }`, {}, { token });
    const read = await gql(t.gatewayUrl, `query($id: ID!) { customer(id: $id) { name } }`, { id: customerId }, { apiKey: bare.createServiceAccount.secret });
    expect(read.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    // Another organization's worker asking for this organization's customer gets nothing.
    const other = await gqlOk(
      t.gatewayUrl,
      `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`,
      { input: { email: 'eve@elsewhere.test', password: 'correct horse battery', name: 'Eve', organizationName: 'Elsewhere' } },
    );
    const eveWorker = await gqlOk<{ createServiceAccount: { secret: string } }>(
      t.gatewayUrl,
      `mutation { createServiceAccount(name: "eve-worker", scopes: ["customers:read", "tasks:read"]) { secret } }`,
      {},
      { token: other.signUp.accessToken },
    );
    const foreign = await gql(t.gatewayUrl, `query($id: ID!) { customer(id: $id) { name } }`, { id: customerId }, { apiKey: eveWorker.createServiceAccount.secret });
    expect(foreign.data?.customer ?? null).toBeNull();
    const claim = await gql(t.gatewayUrl, `mutation { claimAgentRun(kinds: [SUPPORT, TRIAGE]) { run { id } } }`, {}, { apiKey: eveWorker.createServiceAccount.secret });
    expect(claim.errors).toBeUndefined();
    expect(claim.data?.claimAgentRun).toBeNull();
  });
});
