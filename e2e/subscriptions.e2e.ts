/**
 * Issue 5 end to end: subscriptions through the gateway with the real graphql-ws and graphql-sse clients, events from
 * the real outbox → JetStream path. Cross-subgraph selections, per-event authorization, tenant isolation, two gateway
 * processes, resume with `after`, SIGTERM drain (1012) and resume without loss.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually, gqlOk } from '../scripts/lib/graphql-client';
import { freePort, startTestStack, type TestStack } from './support/test-stack';

let t: TestStack;
let owner: string; // OWNER of org A
let viewerA: string; // VIEWER of org A
let ownerB: string; // OWNER of org B (the viewer's own organization)
let ownerId: string;
let customerId: string;
let gateway2: ChildProcess | null = null;
let gateway2Url = '';

const ok = <T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}, token = owner) =>
  gqlOk<T>(t.gatewayUrl, query, variables, { token });
const wsUrl = (httpUrl: string) => httpUrl.replace(/^http/, 'ws');

interface Received {
  results: Array<{ data?: any; errors?: any[] }>;
  closed: Promise<{ code: number; reason: string }>;
  client: Client;
  dispose(): void;
}

function subscribeWs(url: string, token: string, query: string, variables: Record<string, unknown> = {}, connectionParams: Record<string, unknown> = {}): Received {
  let onClosed!: (v: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => (onClosed = r));
  const client = createWsClient({
    url: wsUrl(url),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}`, ...connectionParams },
    retryAttempts: 0,
    lazy: false,
    on: { closed: (e) => onClosed({ code: (e as { code: number }).code, reason: String((e as { reason?: string }).reason ?? '') }) },
    onNonLazyError: () => undefined,
  });
  const results: Received['results'] = [];
  const stop = client.subscribe({ query, variables }, { next: (r) => void results.push(r as any), error: () => undefined, complete: () => undefined });
  return {
    results,
    closed,
    client,
    dispose() {
      stop();
      void client.dispose();
    },
  };
}

const TASK_CHANGED = `subscription($taskId: ID, $after: String) { taskChanged(taskId: $taskId, after: $after) {
  cursor kind task { id title assignee { ... on User { name } } customer { name healthScore { score } } } } }`;

/**
 * Subscriptions register asynchronously (upstream consumer creation): wait until the gateway holds them. There is no
 * per-subscription ack in graphql-transport-ws; generous because CI runs this file beside the integration projects.
 */
const settle = () => new Promise((r) => setTimeout(r, 1_500));

async function startSecondGateway(): Promise<void> {
  const gw = t.stack.processes.find((p) => p.name === 'gateway')!;
  const env = Object.fromEntries(
    readFileSync(`/proc/${gw.child.pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  const port = await freePort();
  gateway2 = spawn(path.resolve('node_modules/.bin/tsx'), ['gateway/src/index.ts'], { env: { ...env, PORT: String(port) }, stdio: 'ignore' });
  gateway2Url = `http://127.0.0.1:${port}/graphql`;
  await eventually(async () => {
    const r = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
    return r?.status === 200;
  }, 60_000);
}

beforeAll(async () => {
  t = await startTestStack();
  const a = await gqlOk<any>(t.gatewayUrl, `mutation { signUp(input: { email: "own@subs.test", password: "correct horse battery", name: "Olive Owner", organizationName: "Org A" }) { accessToken user { id } organization { id } } }`, {});
  owner = a.signUp.accessToken;
  ownerId = a.signUp.user.id;
  const orgA = a.signUp.organization.id;
  const b = await gqlOk<any>(t.gatewayUrl, `mutation { signUp(input: { email: "vic@subs.test", password: "correct horse battery", name: "Vic Viewer", organizationName: "Org B" }) { accessToken } }`, {});
  ownerB = b.signUp.accessToken;
  await ok(`mutation { inviteMember(email: "vic@subs.test", name: "Vic Viewer", role: VIEWER) { role } }`);
  const v = await gqlOk<any>(t.gatewayUrl, `mutation($org: ID!) { login(email: "vic@subs.test", password: "correct horse battery", organizationId: $org) { accessToken } }`, { org: orgA });
  viewerA = v.login.accessToken;
  const c = await ok(`mutation { createCustomer(input: { name: "Globex", domain: "globex.example", plan: "growth", mrr: 4200 }) { id } }`);
  customerId = c.createCustomer.id;
  await ok(`mutation($id: ID!) { recordSignal(customerId: $id, input: { kind: PRODUCT_USAGE, value: 0.9 }) { score } }`, { id: customerId });
  await startSecondGateway();
}, 180_000);

afterAll(async () => {
  if (gateway2 && gateway2.exitCode === null) gateway2.kill('SIGKILL');
  await t?.stop();
});

describe('subscriptions through the gateway', () => {
  it('delivers taskChanged with a cross-subgraph selection over graphql-ws, and only to the right organization', async () => {
    const a = subscribeWs(t.gatewayUrl, owner, TASK_CHANGED);
    const b = subscribeWs(t.gatewayUrl, ownerB, TASK_CHANGED);
    await settle();
    await ok(`mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }`, {
      input: { title: 'Prepare the renewal', customerId, assigneeId: ownerId },
    });
    const first = await eventually(async () => a.results[0], 15_000);
    expect(first.errors, t.logs()).toBeUndefined();
    expect(first.data.taskChanged).toMatchObject({
      kind: 'CREATED',
      task: { title: 'Prepare the renewal', assignee: { name: 'Olive Owner' }, customer: { name: 'Globex' } },
    });
    expect(first.data.taskChanged.cursor).toMatch(/^\d+$/);
    expect(first.data.taskChanged.task.customer.healthScore.score).toEqual(expect.any(Number));

    // Org B sees its own task only.
    await gqlOk(t.gatewayUrl, `mutation { createTask(input: { title: "B's own task" }) { id } }`, {}, { token: ownerB });
    await eventually(async () => b.results.length > 0, 15_000);
    await settle();
    expect(b.results.map((r) => r.data?.taskChanged.task.title)).toEqual(["B's own task"]);
    expect(a.results.map((r) => r.data?.taskChanged.task.title)).not.toContain("B's own task");
    a.dispose();
    b.dispose();
  });

  it('authorizes every event: a VIEWER gets mrr null with FORBIDDEN, the OWNER gets the value', async () => {
    const query = `subscription($id: ID) { customerHealthChanged(customerId: $id) { id name mrr healthScore { score } } }`;
    const o = subscribeWs(t.gatewayUrl, owner, query, { id: customerId });
    const v = subscribeWs(t.gatewayUrl, viewerA, query, { id: customerId });
    await settle();
    await ok(`mutation($id: ID!) { recordSignal(customerId: $id, input: { kind: NPS, value: 2 }) { score } }`, { id: customerId });
    const ro = await eventually(async () => o.results[0], 15_000);
    const rv = await eventually(async () => v.results[0], 15_000);
    expect(ro.errors, t.logs()).toBeUndefined();
    expect(ro.data.customerHealthChanged).toMatchObject({ id: customerId, name: 'Globex', mrr: 4200 });
    expect(rv.data.customerHealthChanged).toMatchObject({ id: customerId, name: 'Globex', mrr: null });
    expect(rv.errors?.[0]).toMatchObject({ path: ['customerHealthChanged', 'mrr'], extensions: { code: 'FORBIDDEN' } });
    o.dispose();
    v.dispose();
  });

  it('serves graphql-sse at /graphql/stream and a second gateway process delivers the same events', async () => {
    const sse = createSseClient({
      url: t.gatewayUrl.replace(/\/graphql$/, '/graphql/stream'),
      headers: { authorization: `Bearer ${owner}` },
      retryAttempts: 0,
    });
    const sseResults: any[] = [];
    const stopSse = sse.subscribe({ query: TASK_CHANGED }, { next: (r) => void sseResults.push(r), error: () => undefined, complete: () => undefined });
    const g2 = subscribeWs(gateway2Url, owner, TASK_CHANGED);
    await settle();
    const c = await ok(`mutation { createTask(input: { title: "Seen by both gateways" }) { id } }`);
    const viaSse = await eventually(async () => sseResults.find((r) => r.data?.taskChanged.task.id === c.createTask.id), 15_000);
    const via2 = await eventually(async () => g2.results.find((r) => r.data?.taskChanged.task.id === c.createTask.id), 15_000);
    expect(viaSse.data.taskChanged.cursor).toBe(via2!.data.taskChanged.cursor);
    stopSse();
    sse.dispose();
    g2.dispose();
  });

  it('resumes after a dropped connection with `after`: the missed events first, then live, no gap and no duplicate', async () => {
    const c = await ok(`mutation { createTask(input: { title: "Resumable" }) { id version } }`);
    const id = c.createTask.id;
    const s1 = subscribeWs(t.gatewayUrl, owner, TASK_CHANGED, { taskId: id });
    await settle();
    await ok(`mutation($id: ID!) { updateTask(id: $id, expectedVersion: 1, input: { title: "Resumable v2" }) { version } }`, { id });
    // The outbox relay publishes TaskCreated asynchronously: on a busy machine it can reach the subscription after it
    // registered. Resume from the update's cursor, not from whichever event came first.
    const r1 = await eventually(async () => s1.results.find((x) => x.data?.taskChanged.kind === 'UPDATED'), 15_000);
    const cursor = r1.data.taskChanged.cursor;
    s1.dispose(); // dropped
    await ok(`mutation($id: ID!) { updateTask(id: $id, expectedVersion: 2, input: { title: "Resumable v3" }) { version } }`, { id });
    await ok(`mutation($id: ID!) { addComment(taskId: $id, body: "while you were away") { id } }`, { id });
    await new Promise((r) => setTimeout(r, 1_500)); // let the relay publish both
    const s2 = subscribeWs(t.gatewayUrl, owner, TASK_CHANGED, { taskId: id, after: cursor });
    await eventually(async () => s2.results.length >= 2, 15_000);
    await ok(`mutation($id: ID!) { changeTaskStatus(id: $id, expectedVersion: 4, status: IN_PROGRESS) { version } }`, { id });
    await eventually(async () => s2.results.length >= 3, 15_000);
    await settle();
    const kinds = s2.results.map((r) => r.data.taskChanged.kind);
    expect(kinds).toEqual(['UPDATED', 'COMMENTED', 'STATUS_CHANGED']);
    const cursors = s2.results.map((r) => Number(r.data.taskChanged.cursor));
    expect(cursors[0]).toBeGreaterThan(Number(cursor));
    expect([...cursors].sort((x, y) => x - y)).toEqual(cursors);
    s2.dispose();
  });

  it('drains on SIGTERM with 1012 and a client resuming on the other gateway loses nothing', async () => {
    const c = await ok(`mutation { createTask(input: { title: "Drained" }) { id version } }`);
    const id = c.createTask.id;
    const s = subscribeWs(gateway2Url, owner, TASK_CHANGED, { taskId: id });
    await settle();
    await ok(`mutation($id: ID!) { updateTask(id: $id, expectedVersion: 1, input: { title: "Drained v2" }) { version } }`, { id });
    // Not results[0]: TaskCreated, published asynchronously by the outbox relay, may arrive after the subscription registered.
    const r = await eventually(async () => s.results.find((x) => x.data?.taskChanged.kind === 'UPDATED'), 15_000);
    gateway2!.kill('SIGTERM');
    const closed = await s.closed;
    expect(closed.code).toBe(1012);
    await ok(`mutation($id: ID!) { updateTask(id: $id, expectedVersion: 2, input: { title: "Drained v3" }) { version } }`, { id });
    const resumed = subscribeWs(t.gatewayUrl, owner, TASK_CHANGED, { taskId: id }, { after: r.data.taskChanged.cursor });
    const next = await eventually(async () => resumed.results[0], 15_000);
    expect(next.data.taskChanged).toMatchObject({ kind: 'UPDATED', task: { title: 'Drained v3' } });
    await settle();
    expect(resumed.results, JSON.stringify(resumed.results)).toHaveLength(1);
    resumed.dispose();
  });

  it('reports open subscriptions on /metrics (cos_active_subscriptions)', async () => {
    const metricsUrl = t.gatewayUrl.replace(/\/graphql$/, '/metrics');
    const active = async () => {
      const text = await (await fetch(metricsUrl)).text();
      const m = /^cos_active_subscriptions\{[^}]*transport="all"[^}]*\} (\d+)/m.exec(text);
      return m ? Number(m[1]) : NaN;
    };
    const before = await active();
    const s = subscribeWs(t.gatewayUrl, owner, TASK_CHANGED);
    await settle();
    expect(await active()).toBe(before + 1);
    s.dispose();
    await settle();
    expect(await active()).toBe(before);
  });

  it('reports delivery lag, pending events and overload closes on /metrics', async () => {
    const metricsUrl = t.gatewayUrl.replace(/\/graphql$/, '/metrics');
    const read = async (name: string) => {
      const text = await (await fetch(metricsUrl)).text();
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(text);
      return m ? Number(m[1]) : NaN;
    };
    const before = await read('cos_subscription_delivery_lag_seconds_count');
    expect(Number.isFinite(before)).toBe(true);
    const s = subscribeWs(t.gatewayUrl, owner, TASK_CHANGED);
    await settle();
    await ok(`mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }`, { input: { title: 'Lag probe', customerId } });
    await eventually(async () => s.results.length > 0, 15_000);
    expect(await read('cos_subscription_delivery_lag_seconds_count')).toBeGreaterThan(before);
    expect(await read('cos_subscription_pending_events')).toBe(0);
    expect(await read('cos_subscription_overload_closed_total')).toBe(0);
    s.dispose();
  });

  it('refuses a connection without valid credentials with 4403', async () => {
    const s = subscribeWs(t.gatewayUrl, 'not-a-jwt', TASK_CHANGED);
    expect((await s.closed).code).toBe(4403);
  });
});
