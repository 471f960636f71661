/**
 * Connections and inbound webhooks against the in-process customers subgraph over a real Postgres: credentials
 * encrypted at rest and shown once, per-provider signatures (and what an attacker tries), idempotent redelivery,
 * health recomputed through the command path, the delivery audit trail, rotation and tenant isolation.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '@cos/auth';
import { createPool, Db } from '@cos/db';
import { createTestDatabase, execSubgraph, migrateService, TEST_INTERNAL_SECRET, userPrincipal, type TestDatabase } from '@cos/testing';
import { parseKeyRing } from '../src/connections/secrets';
import { rewrapSecrets } from '../src/connections/runner';
import { createServer } from '../src/server';
import { log } from './harness';
import { signIntercom, signMixpanel, signSegment, signStripe, signZendesk, stripeInvoiceFailed } from './support/providers';

const key = () => randomBytes(32).toString('base64');
const K1 = `k1:${key()}`;
const K2 = `k2:${key()}`;

let testDb: TestDatabase;
let db: Db;
let systemDb: Db;
let server: ReturnType<typeof createServer>;

beforeAll(async () => {
  testDb = await createTestDatabase();
  const cfg = await migrateService(testDb, 'customers');
  db = new Db(createPool({ connectionString: cfg.runtimeUrl, schema: cfg.schema, applicationName: 'conn-test', max: 5, statementTimeoutMs: 10_000 }));
  systemDb = new Db(createPool({ connectionString: cfg.systemUrl, schema: cfg.schema, applicationName: 'conn-test-system', max: 3, statementTimeoutMs: 10_000 }));
  server = createServer({ db, systemDb, log, internalSecret: TEST_INTERNAL_SECRET, connections: { keyRing: parseKeyRing(K1), allowCustomBaseUrl: false }, webhooks: { maxBodyBytes: 8 * 1024 } });
});
afterAll(async () => {
  await Promise.allSettled([db?.close(), systemDb?.close()]);
  await testDb?.drop();
});

const yoga = () => ({ fetch: (input: string, init?: RequestInit) => server.yoga.fetch(input, init ?? {}) });
const gql = <T,>(p: Principal, query: string, variables?: Record<string, unknown>) => execSubgraph<T>(yoga(), p, query, variables);
async function ok<T>(p: Principal, query: string, variables?: Record<string, unknown>): Promise<T> {
  const r = await gql<T>(p, query, variables);
  if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
  return r.data as T;
}
const owner = (orgId = randomUUID()) => userPrincipal(randomUUID(), orgId, 'OWNER') as Principal & { orgId: string };
const sys = async (sql: string, params: unknown[] = []) => (await systemDb.withClient((tx) => tx.query(sql, params))) as Array<Record<string, unknown>>;
const count = async (sql: string, params: unknown[] = []) => Number((await sys(sql, params))[0]!.n);

const CREATE_CONNECTION = `mutation($provider: ConnectionProvider!, $config: ConnectionConfigInput!) {
  createConnection(provider: $provider, config: $config) { webhookSecret connection { id provider name webhookPath webhookSecret { last4 fingerprint } apiToken { last4 } sync { status } } } }`;
type Created = { createConnection: { webhookSecret: string; connection: { id: string; webhookPath: string; webhookSecret: { last4: string; fingerprint: string } } } };

async function connect(p: Principal, provider: string, config: Record<string, unknown> = {}) {
  const r = await ok<Created>(p, CREATE_CONNECTION, { provider, config: { name: `${provider} test`, ...config } });
  return { id: r.createConnection.connection.id, secret: r.createConnection.webhookSecret, path: r.createConnection.connection.webhookPath, view: r.createConnection.connection };
}

async function customer(p: Principal, domain: string) {
  const r = await ok<{ createCustomer: { id: string } }>(p, `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`, { input: { name: domain, domain } });
  return r.createCustomer.id;
}

const post = (path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  server.yoga.fetch(`http://customers${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }) as Promise<Response>;

const health = async (p: Principal, id: string) =>
  (await ok<{ customer: { healthScore: { score: number; factors: Array<{ name: string }> } | null } }>(p, `query($id: ID!) { customer(id: $id) { healthScore { score factors { name } } } }`, { id })).customer.healthScore;

const DELIVERIES = `query($id: ID!) { connection(id: $id) { deliveries(first: 50) { via outcome reason externalEventId httpStatus customer { id } } } }`;
type Delivery = { via: string; outcome: string; reason: string | null; externalEventId: string | null; httpStatus: number | null; customer: { id: string } | null };
const deliveries = async (p: Principal, id: string) => (await ok<{ connection: { deliveries: Delivery[] } }>(p, DELIVERIES, { id })).connection.deliveries;

describe('connections: created by ADMIN/OWNER, credentials encrypted and never returned in full', () => {
  it('shows the webhook secret once, stores only ciphertext, and events carry hints only', async () => {
    const p = owner();
    const c = await connect(p, 'BILLING_STRIPE', { webhookSecret: 'whsec_test_0123456789abcdef' });
    expect(c.secret).toBe('whsec_test_0123456789abcdef');
    expect(c.path).toBe(`/webhooks/stripe/${c.id}`);
    expect(c.view.webhookSecret.last4).toBe('cdef');
    const listed = await ok<{ connections: Array<Record<string, unknown>> }>(p, `{ connections { id webhookSecret { last4 fingerprint } } }`);
    expect(listed.connections).toEqual([{ id: c.id, webhookSecret: c.view.webhookSecret }]);
    expect(JSON.stringify(listed)).not.toContain('whsec_test_0123456789abcdef');
    // at rest: no plaintext anywhere in the service's tables
    const secrets = await sys(`SELECT key_id, ciphertext, wrapped_key FROM connection_secrets WHERE connection_id = $1`, [c.id]);
    expect(secrets).toHaveLength(1);
    expect(secrets[0]!.key_id).toBe('k1');
    expect((secrets[0]!.ciphertext as Buffer).toString('latin1')).not.toContain('whsec_test');
    const events = await sys(`SELECT type, data::text AS data FROM events WHERE stream_id = $1`, [`Connection-${c.id}`]);
    expect(events.map((e) => e.type)).toEqual(['ConnectionCreated']);
    expect(String(events[0]!.data)).not.toContain('whsec_test');
  });

  it('generates a secret when none is given', async () => {
    const c = await connect(owner(), 'USAGE_SEGMENT');
    expect(c.secret).toMatch(/^whsec_[A-Za-z0-9_-]{32}$/);
  });

  it('MEMBER and VIEWER are FORBIDDEN, nothing written', async () => {
    const orgId = randomUUID();
    const before = await count(`SELECT count(*) AS n FROM events`);
    for (const role of ['MEMBER', 'VIEWER'] as const) {
      const r = await gql(userPrincipal(randomUUID(), orgId, role), CREATE_CONNECTION, { provider: 'BILLING_STRIPE', config: { name: 'x' } });
      expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const q = await gql(userPrincipal(randomUUID(), orgId, role), `{ connections { id } }`);
      expect(q.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    expect(await count(`SELECT count(*) AS n FROM events`)).toBe(before);
  });

  it('bad config is BAD_USER_INPUT with the field: a pull URL off the provider host (SSRF), webhook-only providers, short secrets', async () => {
    const p = owner();
    for (const [provider, config, field] of [
      ['BILLING_STRIPE', { name: 'x', baseUrl: 'http://169.254.169.254/latest', apiToken: 'sk_test_12345678' }, 'config.baseUrl'],
      ['SUPPORT_ZENDESK', { name: 'x', baseUrl: 'https://evil.example.com', apiToken: 'tok_12345678', email: 'a@b.co' }, 'config.baseUrl'],
      ['USAGE_SEGMENT', { name: 'x', baseUrl: 'https://api.stripe.com', apiToken: 'tok_12345678' }, 'config.baseUrl'],
      ['BILLING_STRIPE', { name: 'x', webhookSecret: 'short' }, 'config.webhookSecret'],
      ['BILLING_STRIPE', { name: '' }, 'config.name'],
      ['BILLING_STRIPE', { name: 'x', apiToken: 'sk_test_12345678' }, 'config.baseUrl'],
    ] as const) {
      const r = await gql(p, CREATE_CONNECTION, { provider, config });
      expect(r.errors?.[0]?.extensions, JSON.stringify(config)).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    const okStripe = await gql(p, CREATE_CONNECTION, { provider: 'BILLING_STRIPE', config: { name: 'real', baseUrl: 'https://api.stripe.com', apiToken: 'sk_test_12345678' } });
    expect(okStripe.errors).toBeUndefined();
  });
});

describe('Stripe-shaped webhook: invoice.payment_failed', () => {
  let p: Principal & { orgId: string };
  let conn: Awaited<ReturnType<typeof connect>>;
  let customerId: string;
  beforeAll(async () => {
    p = owner();
    conn = await connect(p, 'BILLING_STRIPE');
    customerId = await customer(p, 'acme-pay.test');
  });

  it('a signed delivery is accepted after commit: SignalRecorded with its source, health recomputed', async () => {
    const body = JSON.stringify(stripeInvoiceFailed('evt_1001', 'billing@acme-pay.test'));
    const res = await post(conn.path, body, { 'stripe-signature': signStripe(conn.secret, body) });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { status: string; eventId: string; signalId: string };
    expect(answer).toMatchObject({ status: 'accepted', eventId: 'evt_1001' });
    const [signal] = await sys(`SELECT type, data FROM events WHERE stream_id = $1 AND type = 'SignalRecorded'`, [`Customer-${customerId}`]);
    expect(signal!.data).toMatchObject({ kind: 'PAYMENT_FAILED', value: 42, signalId: answer.signalId, source: { connectionId: conn.id, provider: 'BILLING_STRIPE', externalId: 'evt_1001', via: 'WEBHOOK' } });
    const h = await health(p, customerId);
    expect(h?.factors.map((f) => f.name)).toEqual(['payments']);
    expect(h?.score).toBe(50);
  });

  it('a redelivery answers 200 duplicate and writes no event', async () => {
    const body = JSON.stringify(stripeInvoiceFailed('evt_1001', 'billing@acme-pay.test'));
    const before = await count(`SELECT count(*) AS n FROM events`);
    const res = await post(conn.path, body, { 'stripe-signature': signStripe(conn.secret, body) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'duplicate', eventId: 'evt_1001' });
    expect(await count(`SELECT count(*) AS n FROM events`)).toBe(before);
  });

  it('concurrent deliveries of one event count once', async () => {
    const body = JSON.stringify(stripeInvoiceFailed('evt_race', 'billing@acme-pay.test', 100));
    const sig = signStripe(conn.secret, body);
    const answers = await Promise.all([1, 2, 3, 4].map(() => post(conn.path, body, { 'stripe-signature': sig }).then((r) => r.json() as Promise<{ status: string }>)));
    expect(answers.map((a) => a.status).sort()).toEqual(['accepted', 'duplicate', 'duplicate', 'duplicate']);
    expect(await count(`SELECT count(*) AS n FROM events WHERE type = 'SignalRecorded' AND data->'source'->>'externalId' = 'evt_race'`)).toBe(1);
  });

  it('attacks are refused with a stable code and write nothing but the audit entry', async () => {
    const other = await connect(owner(), 'BILLING_STRIPE'); // the attacker's own connection, in another org
    const events = await count(`SELECT count(*) AS n FROM events`);
    const body = JSON.stringify(stripeInvoiceFailed('evt_attack', 'billing@acme-pay.test'));
    const sig = signStripe(conn.secret, body);
    const cases: Array<[string, Promise<Response>, number, string]> = [
      ['tampered body', post(conn.path, body.replace('4200', '1'), { 'stripe-signature': sig }), 401, 'INVALID_SIGNATURE'],
      ['wrong secret', post(conn.path, body, { 'stripe-signature': signStripe('whsec_not_the_secret_at_all', body) }), 401, 'INVALID_SIGNATURE'],
      ['no signature', post(conn.path, body), 401, 'MISSING_SIGNATURE'],
      ['replayed (10 min old)', post(conn.path, body, { 'stripe-signature': signStripe(conn.secret, body, Math.floor(Date.now() / 1000) - 600) }), 401, 'TIMESTAMP_OUT_OF_TOLERANCE'],
      ['signed for another org, sent to this connection', post(conn.path, body, { 'stripe-signature': signStripe(other.secret, body) }), 401, 'INVALID_SIGNATURE'],
      ['this connection id under another provider', post(`/webhooks/zendesk/${conn.id}`, body, signZendesk(conn.secret, body)), 404, 'CONNECTION_NOT_FOUND'],
      ['unknown connection', post(`/webhooks/stripe/${randomUUID()}`, body, { 'stripe-signature': sig }), 404, 'CONNECTION_NOT_FOUND'],
      ['not a uuid', post(`/webhooks/stripe/not-a-uuid`, body, { 'stripe-signature': sig }), 404, 'CONNECTION_NOT_FOUND'],
      ['huge body', post(conn.path, 'x'.repeat(20_000), { 'stripe-signature': signStripe(conn.secret, 'x'.repeat(20_000)) }), 413, 'PAYLOAD_TOO_LARGE'],
      ['signed but not JSON', post(conn.path, 'not json', { 'stripe-signature': signStripe(conn.secret, 'not json') }), 400, 'MALFORMED_PAYLOAD'],
      ['signed JSON without an event id', post(conn.path, '{"type":"invoice.payment_failed"}', { 'stripe-signature': signStripe(conn.secret, '{"type":"invoice.payment_failed"}') }), 400, 'MALFORMED_PAYLOAD'],
    ];
    for (const [what, pending, status, code] of cases) {
      const res = await pending;
      expect(res.status, what).toBe(status);
      expect(((await res.json()) as { error: { code: string } }).error.code, what).toBe(code);
    }
    const get = (await server.yoga.fetch(`http://customers${conn.path}`, { method: 'GET' })) as Response;
    expect(get.status).toBe(405);
    expect(await count(`SELECT count(*) AS n FROM events`)).toBe(events);
    expect(await count(`SELECT count(*) AS n FROM connection_events WHERE external_id = 'evt_attack'`)).toBe(0);
    // the refusals of this connection are audited with their reason (the 404s belong to no known connection)
    const rejected = (await deliveries(p, conn.id)).filter((d) => d.outcome === 'REJECTED').map((d) => d.reason).sort();
    expect(rejected).toEqual(
      ['INVALID_SIGNATURE', 'INVALID_SIGNATURE', 'INVALID_SIGNATURE', 'MALFORMED_PAYLOAD', 'MALFORMED_PAYLOAD', 'MISSING_SIGNATURE', 'PAYLOAD_TOO_LARGE', 'TIMESTAMP_OUT_OF_TOLERANCE'],
    );
  });

  it('the audit trail shows accepted, duplicate and ignored deliveries', async () => {
    const unknownCustomer = JSON.stringify(stripeInvoiceFailed('evt_nobody', 'x@nobody.test'));
    expect(await (await post(conn.path, unknownCustomer, { 'stripe-signature': signStripe(conn.secret, unknownCustomer) })).json()).toMatchObject({ status: 'ignored', reason: 'customer_not_found' });
    const other = JSON.stringify({ ...stripeInvoiceFailed('evt_paid', 'billing@acme-pay.test'), type: 'invoice.paid' });
    expect(await (await post(conn.path, other, { 'stripe-signature': signStripe(conn.secret, other) })).json()).toMatchObject({ status: 'ignored', reason: 'unsupported_event_type' });
    const d = await deliveries(p, conn.id);
    expect(d.find((x) => x.externalEventId === 'evt_1001' && x.outcome === 'ACCEPTED')).toMatchObject({ via: 'WEBHOOK', httpStatus: 200, customer: { id: customerId } });
    expect(d.find((x) => x.externalEventId === 'evt_1001' && x.outcome === 'DUPLICATE')).toBeTruthy();
    expect(d.find((x) => x.externalEventId === 'evt_nobody')).toMatchObject({ outcome: 'IGNORED', reason: 'customer_not_found', customer: null });
  });

  it('rotation: the old secret stops verifying at once, the new one works', async () => {
    const r = await ok<{ rotateConnectionSecret: { webhookSecret: string; connection: { webhookSecret: { last4: string } } } }>(
      p,
      `mutation($id: ID!) { rotateConnectionSecret(id: $id) { webhookSecret connection { webhookSecret { last4 } } } }`,
      { id: conn.id },
    );
    const fresh = r.rotateConnectionSecret.webhookSecret;
    expect(fresh).not.toBe(conn.secret);
    expect(r.rotateConnectionSecret.connection.webhookSecret.last4).toBe(fresh.slice(-4));
    const body = JSON.stringify(stripeInvoiceFailed('evt_after_rotation', 'billing@acme-pay.test'));
    expect((await post(conn.path, body, { 'stripe-signature': signStripe(conn.secret, body) })).status).toBe(401);
    expect((await post(conn.path, body, { 'stripe-signature': signStripe(fresh, body) })).status).toBe(200);
    conn = { ...conn, secret: fresh };
  });
});

describe('the other providers', () => {
  let p: Principal & { orgId: string };
  let customerId: string;
  beforeAll(async () => {
    p = owner();
    customerId = await customer(p, 'globex.test');
  });

  it('Zendesk: ticket.created → SUPPORT_TICKET with the priority as severity; a bad signature or an old timestamp is refused', async () => {
    const c = await connect(p, 'SUPPORT_ZENDESK');
    const body = JSON.stringify({
      id: randomUUID(),
      type: 'zen:event-type:ticket.created',
      time: new Date().toISOString(),
      detail: { id: '5158', priority: 'URGENT', status: 'NEW', requester_email: 'ann@globex.test', created_at: new Date().toISOString() },
    });
    const res = await post(c.path, body, signZendesk(c.secret, body));
    expect(await res.json()).toMatchObject({ status: 'accepted', eventId: 'ticket:5158:created' });
    const [s] = await sys(`SELECT data FROM events WHERE type = 'SignalRecorded' AND data->'source'->>'connectionId' = $1`, [c.id]);
    expect(s!.data).toMatchObject({ kind: 'SUPPORT_TICKET', value: 4, customerId });
    expect((await post(c.path, body, signZendesk('wrong-secret-0123456789', body))).status).toBe(401);
    const old = await post(c.path, body, signZendesk(c.secret, body, new Date(Date.now() - 3_600_000).toISOString()));
    expect(((await old.json()) as { error: { code: string } }).error.code).toBe('TIMESTAMP_OUT_OF_TOLERANCE');
    const solved = JSON.stringify({ id: randomUUID(), type: 'zen:event-type:ticket.status_changed', time: new Date().toISOString(), detail: { id: '5158', status: 'SOLVED' } });
    expect(await (await post(c.path, solved, signZendesk(c.secret, solved))).json()).toMatchObject({ status: 'ignored', reason: 'no_signal_for_event_type' });
  });

  it('Intercom: conversation.user.created (X-Hub-Signature sha1)', async () => {
    const c = await connect(p, 'SUPPORT_INTERCOM');
    const body = JSON.stringify({
      type: 'notification_event',
      id: 'notif_1',
      topic: 'conversation.user.created',
      created_at: Math.floor(Date.now() / 1000),
      data: { item: { type: 'conversation', id: '9001', priority: 'priority', source: { author: { email: 'bob@globex.test' } } } },
    });
    expect(await (await post(c.path, body, signIntercom(c.secret, body))).json()).toMatchObject({ status: 'accepted', eventId: 'conversation:9001:created' });
    expect((await post(c.path, body.replace('9001', '9002'), signIntercom(c.secret, body))).status).toBe(401);
    const stale = JSON.stringify({ ...JSON.parse(body), id: 'notif_2', created_at: Math.floor(Date.now() / 1000) - 3 * 86_400 });
    expect(((await (await post(c.path, stale, signIntercom(c.secret, stale))).json()) as { error: { code: string } }).error.code).toBe('TIMESTAMP_OUT_OF_TOLERANCE');
  });

  it('Segment: track "Usage Reported" → PRODUCT_USAGE (X-Signature sha1)', async () => {
    const c = await connect(p, 'USAGE_SEGMENT');
    const body = JSON.stringify({
      type: 'track',
      messageId: 'msg-1',
      event: 'Usage Reported',
      timestamp: new Date().toISOString(),
      sentAt: new Date().toISOString(),
      context: { traits: { email: 'ops@globex.test' } },
      properties: { active_seats: 30, seats: 40 },
    });
    expect(await (await post(c.path, body, signSegment(c.secret, body))).json()).toMatchObject({ status: 'accepted', eventId: 'msg-1' });
    const [s] = await sys(`SELECT data FROM events WHERE type = 'SignalRecorded' AND data->'source'->>'connectionId' = $1`, [c.id]);
    expect(s!.data).toMatchObject({ kind: 'PRODUCT_USAGE', value: 0.75 });
    expect((await post(c.path, body, signSegment(`${c.secret}x`, body))).status).toBe(401);
  });

  it('Mixpanel-shaped: "Signed In" → LOGIN (sha256 over timestamp.body)', async () => {
    const c = await connect(p, 'USAGE_MIXPANEL');
    const body = JSON.stringify({ event: 'Signed In', properties: { $insert_id: 'ins-1', distinct_id: 'u1', time: Math.floor(Date.now() / 1000), cos_customer_id: customerId } });
    expect(await (await post(c.path, body, signMixpanel(c.secret, body))).json()).toMatchObject({ status: 'accepted', eventId: 'ins-1' });
    const replay = await post(c.path, body, signMixpanel(c.secret, body, Math.floor(Date.now() / 1000) - 1_000));
    expect(((await replay.json()) as { error: { code: string } }).error.code).toBe('TIMESTAMP_OUT_OF_TOLERANCE');
    const h = await health(p, customerId);
    expect(h?.factors.map((f) => f.name).sort()).toEqual(['engagement', 'support', 'usage']);
  });
});

describe('tenant isolation and deletion', () => {
  it('another organization cannot see, rotate or delete a connection, nor map its events to its customers', async () => {
    const a = owner();
    const b = owner();
    const conn = await connect(a, 'BILLING_STRIPE');
    await customer(b, 'b-only.test');
    expect((await ok<{ connections: unknown[] }>(b, `{ connections { id } }`)).connections).toEqual([]);
    expect((await ok<{ connection: unknown }>(b, `query($id: ID!) { connection(id: $id) { id } }`, { id: conn.id })).connection).toBeNull();
    const rot = await gql(b, `mutation($id: ID!) { rotateConnectionSecret(id: $id) { webhookSecret } }`, { id: conn.id });
    expect(rot.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const del = await gql(b, `mutation($id: ID!) { deleteConnection(id: $id) { id } }`, { id: conn.id });
    expect(del.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    // a's connection only ever sees a's customers: b's domain finds nobody
    const body = JSON.stringify(stripeInvoiceFailed('evt_cross', 'x@b-only.test'));
    expect(await (await post(conn.path, body, { 'stripe-signature': signStripe(conn.secret, body) })).json()).toMatchObject({ status: 'ignored', reason: 'customer_not_found' });
  });

  it('a deleted connection answers 404 and its credentials are erased', async () => {
    const p = owner();
    const conn = await connect(p, 'BILLING_STRIPE');
    await ok(p, `mutation($id: ID!) { deleteConnection(id: $id) { id deletedAt } }`, { id: conn.id });
    expect(await count(`SELECT count(*) AS n FROM connection_secrets WHERE connection_id = $1`, [conn.id])).toBe(0);
    const body = JSON.stringify(stripeInvoiceFailed('evt_gone', 'a@b.test'));
    expect((await post(conn.path, body, { 'stripe-signature': signStripe(conn.secret, body) })).status).toBe(404);
    expect((await ok<{ connections: unknown[] }>(p, `{ connections { id } }`)).connections).toEqual([]);
  });
});

describe('master key rotation', () => {
  it('re-wraps every data key with the new active key; the old key can then be dropped', async () => {
    const p = owner();
    const conn = await connect(p, 'BILLING_STRIPE');
    expect(await count(`SELECT count(*) AS n FROM connection_secrets WHERE key_id = 'k1'`)).toBeGreaterThan(0);
    const n = await rewrapSecrets(systemDb, parseKeyRing(`${K2},${K1}`), log);
    expect(n).toBeGreaterThan(0);
    expect(await count(`SELECT count(*) AS n FROM connection_secrets WHERE key_id <> 'k2'`)).toBe(0);
    // a server holding only the new key verifies deliveries signed with the connection's secret
    const onlyNew = createServer({ db, systemDb, log, internalSecret: TEST_INTERNAL_SECRET, connections: { keyRing: parseKeyRing(K2), allowCustomBaseUrl: false } });
    const body = JSON.stringify(stripeInvoiceFailed('evt_k2', 'a@nobody.test'));
    const res = (await onlyNew.yoga.fetch(`http://customers${conn.path}`, { method: 'POST', headers: { 'stripe-signature': signStripe(conn.secret, body) }, body })) as Response;
    expect(res.status).toBe(200);
    // and one holding only the old key cannot read them any more (fails closed, 500, nothing written)
    const onlyOld = createServer({ db, systemDb, log, internalSecret: TEST_INTERNAL_SECRET, connections: { keyRing: parseKeyRing(K1), allowCustomBaseUrl: false } });
    const res2 = (await onlyOld.yoga.fetch(`http://customers${conn.path}`, { method: 'POST', headers: { 'stripe-signature': signStripe(conn.secret, body) }, body })) as Response;
    expect(res2.status).toBe(500);
  });
});
