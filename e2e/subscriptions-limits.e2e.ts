/**
 * Issue 5, the edges of the subscription engine through real processes: a supergraph hot reload keeps open
 * subscriptions up; an expiring access token ends the subscription with 4403; a slow consumer (a socket that stops
 * reading) is closed alone with 1013 while another subscriber keeps receiving; per-connection and per-principal
 * limits answer RATE_LIMITED; a burst of many distinct entities is delivered completely.
 * Access tokens live 30 s in this stack (identity's minimum), so every test signs up its own user just before.
 */
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient as createWsClient, type Client } from 'graphql-ws';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually, gqlOk } from '../scripts/lib/graphql-client';
import { startTestStack, type TestStack } from './support/test-stack';

let t: TestStack;
let supergraphCopy = '';
let users = 0;

const wsUrl = (httpUrl: string) => httpUrl.replace(/^http/, 'ws');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Subscriptions register asynchronously (upstream consumer creation): wait until the gateway holds them. */
const settle = () => sleep(700);
const gatewayLog = () => readFileSync(path.join(t.logDir, 'gateway.log'), 'utf8');

async function newUser(): Promise<{ token: string; userId: string }> {
  const n = ++users;
  const r = await gqlOk<any>(
    t.gatewayUrl,
    `mutation($e: String!, $o: String!) { signUp(input: { email: $e, password: "correct horse battery", name: "Limit Tester", organizationName: $o }) { accessToken user { id } } }`,
    { e: `user${n}@limits.test`, o: `Limits ${n}` },
  );
  return { token: r.signUp.accessToken, userId: r.signUp.user.id };
}

const ok = <T = Record<string, any>>(token: string, query: string, variables: Record<string, unknown> = {}) =>
  gqlOk<T>(t.gatewayUrl, query, variables, { token });

interface Received {
  results: Array<{ data?: any; errors?: any[] }>;
  closed: Promise<{ code: number; reason: string }>;
  isClosed(): boolean;
  client: Client;
  subscribe(query: string, variables?: Record<string, unknown>): { results: Received['results']; completed: () => boolean; stop: () => void };
  dispose(): void;
}

function connectWs(token: string): Received {
  let onClosed!: (v: { code: number; reason: string }) => void;
  let closedFlag = false;
  const closed = new Promise<{ code: number; reason: string }>((r) => (onClosed = r));
  const client = createWsClient({
    url: wsUrl(t.gatewayUrl),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: false,
    on: {
      closed: (e) => {
        closedFlag = true;
        onClosed({ code: (e as { code: number }).code, reason: String((e as { reason?: string }).reason ?? '') });
      },
    },
    onNonLazyError: () => undefined,
  });
  const all: Received['results'] = [];
  return {
    results: all,
    closed,
    isClosed: () => closedFlag,
    client,
    subscribe(query, variables = {}) {
      const results: Received['results'] = [];
      let done = false;
      const stop = client.subscribe(
        { query, variables },
        {
          next: (r) => {
            results.push(r as any);
            all.push(r as any);
          },
          error: () => (done = true),
          complete: () => (done = true),
        },
      );
      return { results, completed: () => done, stop };
    },
    dispose() {
      void client.dispose();
    },
  };
}

const TASK_CHANGED = `subscription($taskId: ID) { taskChanged(taskId: $taskId) { cursor kind task { id title } } }`;

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cos-supergraph-'));
  supergraphCopy = path.join(dir, 'supergraph.graphql');
  copyFileSync(path.resolve('schema/supergraph.graphql'), supergraphCopy);
  t = await startTestStack({
    perProcessEnv: {
      identity: { ACCESS_TOKEN_TTL_S: '30' },
      gateway: {
        SUPERGRAPH: supergraphCopy,
        SUPERGRAPH_POLL_MS: '200',
        SUBS_MAX_PER_CONNECTION: '2',
        SUBS_MAX_PER_PRINCIPAL: '3',
        SUBS_CONNECTION_BUFFER: '16',
      },
    },
  });
}, 180_000);

afterAll(async () => {
  await t?.stop();
});

describe('subscription limits and lifecycle', () => {
  it('keeps open subscriptions up across a supergraph hot reload', async () => {
    const { token } = await newUser();
    const c = connectWs(token);
    const s = c.subscribe(TASK_CHANGED);
    await settle();
    await ok(token, `mutation { createTask(input: { title: "before reload" }) { id } }`);
    await eventually(async () => s.results.length === 1, 15_000);

    const updatesBefore = gatewayLog().split('supergraph updated').length;
    writeFileSync(supergraphCopy, `${readFileSync(supergraphCopy, 'utf8')}\n# reloaded ${Date.now()}\n`);
    await eventually(async () => gatewayLog().split('supergraph updated').length > updatesBefore, 15_000);

    await ok(token, `mutation { createTask(input: { title: "after reload" }) { id } }`);
    await eventually(async () => s.results.length === 2, 15_000);
    expect(s.results.map((r) => r.data?.taskChanged.task.title), t.logs()).toEqual(['before reload', 'after reload']);
    expect(s.results.every((r) => r.errors === undefined)).toBe(true);
    // A new subscription on the reloaded schema works too, on the same connection.
    const s2 = c.subscribe(TASK_CHANGED);
    await settle();
    await ok(token, `mutation { createTask(input: { title: "third" }) { id } }`);
    await eventually(async () => s2.results.length === 1 && s.results.length === 3, 15_000);
    expect(c.isClosed()).toBe(false);
    expect(s.completed()).toBe(false);
    c.dispose();
  }, 60_000);

  it('ends the subscription with 4403 when the access token expires', async () => {
    const { token } = await newUser();
    const exp = decodeJwt(token).exp! * 1000;
    const c = connectWs(token);
    const s = c.subscribe(TASK_CHANGED);
    await settle();
    await ok(token, `mutation { createTask(input: { title: "while valid" }) { id } }`);
    await eventually(async () => s.results.length === 1, 15_000);
    expect(c.isClosed()).toBe(false);
    const closed = await c.closed;
    const at = Date.now();
    expect(closed.code).toBe(4403);
    expect(closed.reason).toMatch(/expired/i);
    expect(at).toBeGreaterThanOrEqual(exp - 1_000);
    expect(at).toBeLessThan(exp + 5_000);
  }, 60_000);

  it('closes only the slow consumer with 1013 while another subscriber keeps receiving', async () => {
    const { token } = await newUser();
    const created = await ok(token, `mutation($d: String!) { createTask(input: { title: "fat", description: $d }) { id } }`, {
      d: 'x'.repeat(10_000),
    });
    const taskId = created.createTask.id as string;

    // The slow consumer: a raw graphql-transport-ws socket that stops reading after the ack; every result is
    // ~140 KB (14 aliases of a 10 KB description), so kernel buffers fill and results queue in the gateway.
    const fat = Array.from({ length: 14 }, (_, i) => `d${i}: description`).join(' ');
    const slow = new WebSocket(wsUrl(t.gatewayUrl), 'graphql-transport-ws', { perMessageDeflate: false });
    let slowMessages = 0;
    const slowClosed = new Promise<{ code: number; reason: string }>((resolve) =>
      slow.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    await new Promise<void>((resolve, reject) => {
      slow.on('error', reject);
      slow.on('open', () => slow.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
      slow.on('message', (raw) => {
        const m = JSON.parse(raw.toString());
        if (m.type === 'connection_ack') {
          slow.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `subscription($id: ID) { taskChanged(taskId: $id) { cursor task { ${fat} } } }`, variables: { id: taskId } } }));
          slow.pause();
          resolve();
        } else if (m.type === 'next') slowMessages++;
      });
    });

    const healthy = connectWs(token);
    const h = healthy.subscribe(TASK_CHANGED, { taskId });
    await settle();

    let version = 1;
    let updates = 0;
    while (!gatewayLog().includes('slow consumer') && updates < 200) {
      await ok(token, `mutation($id: ID!, $v: Int!) { updateTask(id: $id, expectedVersion: $v, input: { title: "update ${updates}" }) { version } }`, {
        id: taskId,
        v: version,
      });
      version++;
      updates++;
    }
    expect(gatewayLog(), t.logs()).toContain('slow consumer');
    // One result per event, in order (each carries the task as it is when resolved, so titles may repeat).
    await eventually(async () => h.results.length === updates && h.results.at(-1)?.data?.taskChanged.task.title === `update ${updates - 1}`, 15_000);
    const cursors = h.results.map((r) => Number(r.data?.taskChanged.cursor));
    expect(new Set(cursors).size).toBe(updates);
    expect([...cursors].sort((x, y) => x - y)).toEqual(cursors);

    // The slow client reads again: what was already written, then the close frame with its code.
    slow.resume();
    const closed = await slowClosed;
    expect(closed.code).toBe(1013);
    expect(closed.reason).toMatch(/slow consumer/i);
    expect(slowMessages).toBeGreaterThan(0);
    expect(slowMessages).toBeLessThan(updates);

    // The other connection is untouched and still live.
    await ok(token, `mutation($id: ID!, $v: Int!) { updateTask(id: $id, expectedVersion: $v, input: { title: "after the overflow" }) { version } }`, {
      id: taskId,
      v: version,
    });
    await eventually(async () => h.results.length === updates + 1, 15_000);
    expect(h.results.at(-1)?.data?.taskChanged.task.title).toBe('after the overflow');
    expect(healthy.isClosed()).toBe(false);
    healthy.dispose();
  }, 90_000);

  it('answers RATE_LIMITED past the per-connection and per-principal limits, and frees the slot when one ends', async () => {
    const { token } = await newUser();
    const c1 = connectWs(token);
    const a = c1.subscribe(TASK_CHANGED);
    const b = c1.subscribe(TASK_CHANGED);
    await settle();
    const third = c1.subscribe(TASK_CHANGED);
    await eventually(async () => third.results.length === 1, 10_000);
    expect(third.results[0]!.errors?.[0]).toMatchObject({
      message: 'At most 2 subscriptions per connection',
      extensions: { code: 'RATE_LIMITED' },
    });
    expect(third.completed()).toBe(true);

    const c2 = connectWs(token);
    const d = c2.subscribe(TASK_CHANGED);
    await settle();
    const fourth = c2.subscribe(TASK_CHANGED);
    await eventually(async () => fourth.results.length === 1, 10_000);
    expect(fourth.results[0]!.errors?.[0]).toMatchObject({
      message: 'At most 3 subscriptions per principal',
      extensions: { code: 'RATE_LIMITED' },
    });

    // The refused ones do not count, the accepted ones all receive, and ending one frees its slot.
    await ok(token, `mutation { createTask(input: { title: "limits" }) { id } }`);
    await eventually(async () => a.results.length === 1 && b.results.length === 1 && d.results.length === 1, 15_000);
    a.stop();
    await settle();
    const again = c2.subscribe(TASK_CHANGED);
    await settle();
    await ok(token, `mutation { createTask(input: { title: "slot freed" }) { id } }`);
    await eventually(async () => again.results.length === 1, 15_000);
    expect(again.results[0]!.errors, t.logs()).toBeUndefined();
    expect(again.results[0]!.data?.taskChanged.task.title).toBe('slot freed');
    expect(c1.isClosed() || c2.isClosed()).toBe(false);
    c1.dispose();
    c2.dispose();
  }, 60_000);

  it('delivers a burst of many distinct entities completely (lookups stay within the gateway limits)', async () => {
    const { token } = await newUser();
    const c = connectWs(token);
    const s = c.subscribe(`subscription { taskChanged { kind task { id title assignee { ... on User { name } } } } }`);
    await settle();
    const titles = Array.from({ length: 40 }, (_, i) => `burst ${i}`);
    await Promise.all(titles.map((title) => ok(token, `mutation($t: String!) { createTask(input: { title: $t }) { id } }`, { t: title })));
    await eventually(async () => s.results.length >= titles.length, 20_000).catch(() => undefined);
    expect(s.results.filter((r) => r.errors), t.logs()).toEqual([]);
    expect(s.results.map((r) => r.data?.taskChanged.task.title).sort()).toEqual([...titles].sort());
    c.dispose();
  }, 60_000);
});
