/**
 * The connector runner against local HTTP servers speaking Zendesk's incremental ticket export and Stripe's events
 * list: signals through the command path, the cursor stored per committed page and resumed after a failure mid-sync,
 * 429 + Retry-After honoured, the circuit breaker opening and recovering, leases (one runner per connection), the
 * FAILED dead-letter state, and webhook + pull of the same provider event counted once.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '@cos/auth';
import { createPool, Db } from '@cos/db';
import { createTestDatabase, execSubgraph, migrateService, TEST_INTERNAL_SECRET, userPrincipal, type TestDatabase } from '@cos/testing';
import { createConnectorRunner, type ConnectorRunnerOptions } from '../src/connections/runner';
import { parseKeyRing } from '../src/connections/secrets';
import { createServer } from '../src/server';
import { log } from './harness';
import { fakeStripe, fakeZendesk, signStripe, stripeInvoiceFailed, type FakeProvider, type ZendeskTicket } from './support/providers';

const connections = { keyRing: parseKeyRing(`t1:${randomBytes(32).toString('base64')}`), allowCustomBaseUrl: true };
let testDb: TestDatabase;
let db: Db;
let systemDb: Db;
let server: ReturnType<typeof createServer>;
const fakes: FakeProvider[] = [];

beforeAll(async () => {
  testDb = await createTestDatabase();
  const cfg = await migrateService(testDb, 'customers');
  db = new Db(createPool({ connectionString: cfg.runtimeUrl, schema: cfg.schema, applicationName: 'connectors-test', max: 6, statementTimeoutMs: 10_000 }));
  systemDb = new Db(createPool({ connectionString: cfg.systemUrl, schema: cfg.schema, applicationName: 'connectors-test-system', max: 4, statementTimeoutMs: 10_000 }));
  server = createServer({ db, systemDb, log, internalSecret: TEST_INTERNAL_SECRET, connections });
});
afterAll(async () => {
  await Promise.allSettled(fakes.map((f) => f.close()));
  await Promise.allSettled([db?.close(), systemDb?.close()]);
  await testDb?.drop();
});

const yoga = { fetch: (input: string, init?: RequestInit) => server.yoga.fetch(input, init ?? {}) };
async function ok<T>(p: Principal, query: string, variables?: Record<string, unknown>): Promise<T> {
  const r = await execSubgraph<T>(yoga, p, query, variables);
  if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
  return r.data as T;
}
const owner = () => userPrincipal(randomUUID(), randomUUID(), 'OWNER') as Principal & { orgId: string };
const sys = async (sql: string, params: unknown[] = []) => (await systemDb.withClient((tx) => tx.query(sql, params))) as Array<Record<string, unknown>>;
const count = async (sql: string, params: unknown[] = []) => Number((await sys(sql, params))[0]!.n);

function runner(overrides: Partial<ConnectorRunnerOptions> = {}) {
  return createConnectorRunner({
    db,
    systemDb,
    log,
    connections,
    pollMs: 60_000,
    concurrency: 10,
    leaseMs: 30_000,
    timeoutMs: 2_000,
    callAttempts: 1,
    breakerFailures: 3,
    breakerHalfOpenMs: 60_000,
    maxFailures: 10,
    backoffBaseMs: 60_000,
    backoffMaxMs: 600_000,
    maxPagesPerRun: 20,
    ...overrides,
  });
}

async function customer(p: Principal, domain: string) {
  return (await ok<{ createCustomer: { id: string } }>(p, `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`, { input: { name: domain, domain } })).createCustomer.id;
}

async function connect(p: Principal, provider: string, config: Record<string, unknown>) {
  const r = await ok<{ createConnection: { webhookSecret: string; connection: { id: string; webhookPath: string } } }>(
    p,
    `mutation($provider: ConnectionProvider!, $config: ConnectionConfigInput!) { createConnection(provider: $provider, config: $config) { webhookSecret connection { id webhookPath } } }`,
    { provider, config: { name: provider, syncIntervalSeconds: 3600, ...config } },
  );
  return { id: r.createConnection.connection.id, secret: r.createConnection.webhookSecret, path: r.createConnection.connection.webhookPath };
}

type Sync = { status: string; lastSyncAt: string | null; nextSyncAt: string; lastError: string | null; consecutiveFailures: number; itemsSynced: number; enabled: boolean };
const syncOf = async (p: Principal, id: string) =>
  (await ok<{ connection: { sync: Sync } }>(p, `query($id: ID!) { connection(id: $id) { sync { status lastSyncAt nextSyncAt lastError consecutiveFailures itemsSynced enabled } } }`, { id })).connection.sync;
const makeDue = (id: string) => sys(`UPDATE connection_sync SET next_sync_at = now() - interval '1 second' WHERE connection_id = $1`, [id]);
const cursorOf = async (id: string) => (await sys(`SELECT cursor FROM connection_sync WHERE connection_id = $1`, [id]))[0]!.cursor as string | null;
const signalsOf = (connectionId: string) => count(`SELECT count(*) AS n FROM events WHERE type = 'SignalRecorded' AND data->'source'->>'connectionId' = $1`, [connectionId]);

const recent = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
const tickets = (n: number, from = 1): ZendeskTicket[] =>
  Array.from({ length: n }, (_, i) => ({ id: from + i, priority: (['low', 'normal', 'high', 'urgent'] as const)[i % 4]!, requester_id: i % 2 === 0 ? 1 : 2, created_at: recent(100 - i), status: 'open' }));

describe('Zendesk incremental ticket export', () => {
  it('pulls every page into support signals (health recomputed), stores the cursor, and skips known tickets next time', async () => {
    const p = owner();
    const initech = await customer(p, 'initech.test');
    const zd = await fakeZendesk({ tickets: tickets(5), users: [{ id: 1, email: 'a@initech.test' }, { id: 2, email: 'b@unknown.test' }], perPage: 2, email: 'agent@vendor.test', token: 'zd-token-123' });
    fakes.push(zd);
    const c = await connect(p, 'SUPPORT_ZENDESK', { baseUrl: zd.url, email: 'agent@vendor.test', apiToken: 'zd-token-123' });
    expect(await runner().runOnce()).toBe(1);
    expect(zd.requests.map((r) => r.query.get('cursor') ?? `start_time`)).toEqual(['start_time', 'Mg', 'NA']);
    expect(zd.requests[0]!.query.get('include')).toBe('users');
    // tickets 1, 3, 5 are initech's (requester 1), 2 and 4 belong to no known customer
    expect(await signalsOf(c.id)).toBe(3);
    const sync = await syncOf(p, c.id);
    expect(sync).toMatchObject({ status: 'OK', lastError: null, consecutiveFailures: 0, itemsSynced: 5 });
    expect(Date.parse(sync.nextSyncAt) - Date.now()).toBeGreaterThan(3_500_000);
    const h = (await ok<{ customer: { healthScore: { factors: Array<{ name: string; value: number }> } } }>(p, `query($id: ID!) { customer(id: $id) { healthScore { factors { name value } } } }`, { id: initech })).customer.healthScore;
    // severities 1 (low) + 3 (high) + 1 (low): support = 1 - min(1, 5/8)
    expect(h.factors).toEqual([{ name: 'support', value: 0.375 }]);
    // the next run starts from the stored cursor and finds nothing new
    await makeDue(c.id);
    await runner().runOnce();
    expect(zd.requests.at(-1)!.query.get('cursor')).toBe(await cursorOf(c.id));
    expect(await signalsOf(c.id)).toBe(3);
  });

  it('resumes after the last committed page when a sync breaks in the middle, without counting anything twice', async () => {
    const p = owner();
    await customer(p, 'umbrella.test');
    const zd = await fakeZendesk({ tickets: tickets(6, 100), users: [{ id: 1, email: 'x@umbrella.test' }, { id: 2, email: 'y@umbrella.test' }], perPage: 2, email: 'a@v.test', token: 'tok-abcdefgh' });
    fakes.push(zd);
    const c = await connect(p, 'SUPPORT_ZENDESK', { baseUrl: zd.url, email: 'a@v.test', apiToken: 'tok-abcdefgh' });
    // the provider breaks on the third page (cursor "NA" = offset 4)
    zd.failWith = { status: 503 };
    zd.failCursor = 'NA';
    await runner().runOnce();
    expect(await signalsOf(c.id)).toBe(4);
    expect(await cursorOf(c.id)).toBe('NA');
    const failed = await syncOf(p, c.id);
    expect(failed).toMatchObject({ status: 'RETRYING', consecutiveFailures: 1, lastError: 'provider answered HTTP 503' });
    // backoff with jitter: 50..100 % of the 60 s base
    const wait = Date.parse(failed.nextSyncAt) - Date.now();
    expect(wait).toBeGreaterThan(25_000);
    expect(wait).toBeLessThanOrEqual(60_000);
    // not due yet: nothing runs
    expect(await runner().runOnce()).toBe(0);
    zd.failWith = null;
    await makeDue(c.id);
    const before = zd.requests.length;
    await runner().runOnce();
    expect(zd.requests.slice(before).map((r) => r.query.get('cursor'))).toEqual(['NA']);
    expect(await signalsOf(c.id)).toBe(6);
    expect(await syncOf(p, c.id)).toMatchObject({ status: 'OK', consecutiveFailures: 0, lastError: null, itemsSynced: 6 });
  });

  it('a runner that died holding the lease: the lease lapses and another runner takes over from the stored cursor', async () => {
    const p = owner();
    await customer(p, 'hooli.test');
    const zd = await fakeZendesk({ tickets: tickets(2, 300), users: [{ id: 1, email: 'x@hooli.test' }], perPage: 10, email: 'a@v.test', token: 'tok-abcdefgh' });
    fakes.push(zd);
    const c = await connect(p, 'SUPPORT_ZENDESK', { baseUrl: zd.url, email: 'a@v.test', apiToken: 'tok-abcdefgh' });
    // a runner claims it with a short lease and "crashes" (never finishes)
    await sys(`UPDATE connection_sync SET lease_owner = 'runner:dead', lease_until = now() + interval '400 milliseconds' WHERE connection_id = $1`, [c.id]);
    expect(await runner().runOnce()).toBe(0);
    await new Promise((r) => setTimeout(r, 600));
    expect(await runner().runOnce()).toBe(1);
    expect(await signalsOf(c.id)).toBe(1);
  });

  it('two runners at once: each due connection is synced by exactly one of them', async () => {
    const p = owner();
    await customer(p, 'vandelay.test');
    const zd = await fakeZendesk({ tickets: tickets(4, 500), users: [{ id: 1, email: 'x@vandelay.test' }, { id: 2, email: 'y@vandelay.test' }], perPage: 1, email: 'a@v.test', token: 'tok-abcdefgh' });
    fakes.push(zd);
    const c = await connect(p, 'SUPPORT_ZENDESK', { baseUrl: zd.url, email: 'a@v.test', apiToken: 'tok-abcdefgh' });
    const ran = await Promise.all([runner().runOnce(), runner().runOnce()]);
    expect(ran.filter((n) => n > 0)).toHaveLength(1);
    expect(zd.requests.filter((r) => !r.query.get('cursor'))).toHaveLength(1);
    expect(await signalsOf(c.id)).toBe(4);
  });

  it('429 with Retry-After: the run stops and the next one waits that long', async () => {
    const p = owner();
    const zd = await fakeZendesk({ tickets: tickets(1, 700), users: [], perPage: 10, email: 'a@v.test', token: 'tok-abcdefgh' });
    fakes.push(zd);
    const c = await connect(p, 'SUPPORT_ZENDESK', { baseUrl: zd.url, email: 'a@v.test', apiToken: 'tok-abcdefgh' });
    zd.failWith = { status: 429, retryAfter: '120' };
    await runner().runOnce();
    const s = await syncOf(p, c.id);
    expect(s.status).toBe('RATE_LIMITED');
    expect(s.consecutiveFailures).toBe(0);
    const wait = Date.parse(s.nextSyncAt) - Date.now();
    expect(wait).toBeGreaterThan(110_000);
    expect(wait).toBeLessThanOrEqual(120_000);
    const seen = zd.requests.length;
    expect(await runner().runOnce()).toBe(0);
    expect(zd.requests.length).toBe(seen);
  });

  it('the circuit breaker opens after repeated failures (no more calls) and recovers after its half-open delay', async () => {
    const p = owner();
    await customer(p, 'soylent.test');
    const zd = await fakeZendesk({ tickets: tickets(1, 900), users: [{ id: 1, email: 'x@soylent.test' }], perPage: 10, email: 'a@v.test', token: 'tok-abcdefgh' });
    fakes.push(zd);
    const c = await connect(p, 'SUPPORT_ZENDESK', { baseUrl: zd.url, email: 'a@v.test', apiToken: 'tok-abcdefgh' });
    zd.failWith = { status: 500 };
    const r = runner({ breakerFailures: 2, breakerHalfOpenMs: 500, callAttempts: 2 });
    for (let i = 0; i < 2; i++) {
      await makeDue(c.id);
      await r.runOnce();
      expect((await syncOf(p, c.id)).status).toBe('RETRYING');
    }
    // 2 runs x 2 attempts (one retry with backoff + jitter)
    expect(zd.requests).toHaveLength(4);
    await makeDue(c.id);
    await r.runOnce();
    const open = await syncOf(p, c.id);
    expect(open).toMatchObject({ status: 'CIRCUIT_OPEN', consecutiveFailures: 2 });
    expect(zd.requests).toHaveLength(4); // failed fast: the provider was not called
    zd.failWith = null;
    await new Promise((res) => setTimeout(res, 600));
    await makeDue(c.id);
    await r.runOnce();
    expect(await syncOf(p, c.id)).toMatchObject({ status: 'OK', consecutiveFailures: 0 });
    expect(await signalsOf(c.id)).toBe(1);
  });

  it('after maxFailures in a row the connection is FAILED and no longer scheduled; a new API token re-enables it', async () => {
    const p = owner();
    const zd = await fakeZendesk({ tickets: [], users: [], perPage: 10, email: 'a@v.test', token: 'the-right-token' });
    fakes.push(zd);
    const c = await connect(p, 'SUPPORT_ZENDESK', { baseUrl: zd.url, email: 'a@v.test', apiToken: 'a-revoked-token' });
    const r = runner({ maxFailures: 2, breakerFailures: 10 });
    for (let i = 0; i < 2; i++) {
      await makeDue(c.id);
      await r.runOnce();
    }
    expect(await syncOf(p, c.id)).toMatchObject({ status: 'FAILED', enabled: false, consecutiveFailures: 2, lastError: 'provider answered HTTP 401' });
    await makeDue(c.id);
    expect(await r.runOnce()).toBe(0);
    await ok(p, `mutation($id: ID!) { rotateConnectionSecret(id: $id, apiToken: "the-right-token") { connection { apiToken { last4 } } webhookSecret } }`, { id: c.id });
    expect(await r.runOnce()).toBe(1);
    expect(await syncOf(p, c.id)).toMatchObject({ status: 'OK', enabled: true, consecutiveFailures: 0 });
  });
});

describe('Stripe events list', () => {
  it('backfills newest-first, then walks forward with ending_before; an event seen by webhook first counts once', async () => {
    const p = owner();
    const customerId = await customer(p, 'massive.test');
    const now = Math.floor(Date.now() / 1000);
    const events = Array.from({ length: 5 }, (_, i) => stripeInvoiceFailed(`evt_${i + 1}`, 'billing@massive.test', 1000, now - 3600 + i * 60));
    const st = await fakeStripe({ events, token: 'sk_test_abcdefgh', pageSize: 2 });
    fakes.push(st);
    const c = await connect(p, 'BILLING_STRIPE', { baseUrl: st.url, apiToken: 'sk_test_abcdefgh' });
    // evt_5 arrives by webhook before the first pull
    const body = JSON.stringify(events[4]);
    const hook = (await server.yoga.fetch(`http://customers${c.path}`, { method: 'POST', headers: { 'stripe-signature': signStripe(c.secret, body) }, body })) as Response;
    expect(await hook.json()).toMatchObject({ status: 'accepted' });

    await runner().runOnce();
    expect(st.requests.map((r) => r.query.get('starting_after'))).toEqual([null, 'evt_4', 'evt_2']);
    expect(st.requests.every((r) => r.authorization === 'Bearer sk_test_abcdefgh' && r.query.get('type') === 'invoice.payment_failed')).toBe(true);
    expect(await signalsOf(c.id)).toBe(5);
    expect(JSON.parse((await cursorOf(c.id))!)).toEqual({ newest: 'evt_5' });

    // later events arrive; the next run asks only for what is newer than evt_5
    events.push(stripeInvoiceFailed('evt_6', 'billing@massive.test', 1000, now), stripeInvoiceFailed('evt_7', 'billing@massive.test', 1000, now + 1), stripeInvoiceFailed('evt_8', 'billing@massive.test', 1000, now + 2));
    await makeDue(c.id);
    const before = st.requests.length;
    await runner().runOnce();
    expect(st.requests.slice(before).map((r) => r.query.get('ending_before'))).toEqual(['evt_5', 'evt_7']);
    expect(await signalsOf(c.id)).toBe(8);
    expect(JSON.parse((await cursorOf(c.id))!)).toEqual({ newest: 'evt_8' });
    const pulled = await count(`SELECT count(*) AS n FROM events WHERE type = 'SignalRecorded' AND data->'source'->>'via' = 'SYNC' AND data->>'customerId' = $1`, [customerId]);
    expect(pulled).toBe(7);
  });
});
