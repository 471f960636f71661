/**
 * Issue 6 end to end: APQ (Apollo's protocol, POST and GET, shared through Redis by two gateway instances), the real
 * @apollo/client with its persisted-queries link, and trusted documents for partner API keys (safelist-only).
 */
import { createHash, randomBytes } from 'node:crypto';
import { ApolloClient, HttpLink, InMemoryCache, gql as agql } from '@apollo/client';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@cos/logger';
import { manifestFromBodies } from '@cos/persisted';
import { loadEnv } from '../gateway/src/env';
import { createGateway, type Gateway } from '../gateway/src/server';
import { eventually, gql } from '../scripts/lib/graphql-client';
import { SERVICES } from '../scripts/lib/paths';
import { startTestStack, type TestStack } from './support/test-stack';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `cos:test:${randomBytes(4).toString('hex')}:`;
const secret = randomBytes(32).toString('hex');

let t: TestStack;
let second: Gateway;
let redis: Redis;
let token: string;
let orgId: string;

const PARTNER_OPS = ['query PartnerMe { me { id name } }', 'query PartnerCustomers { customers(first: 5) { edges { node { id name } } } }'];
const manifest = manifestFromBodies(PARTNER_OPS);

beforeAll(async () => {
  t = await startTestStack({ internalSecret: secret, extraEnv: { LOG_LEVEL: 'info', REDIS_PREFIX: prefix } });
  redis = new Redis(REDIS_URL);
  // A second gateway instance (in-process) over the same subgraphs and the same Redis.
  const env = loadEnv({
    ...process.env,
    NODE_ENV: 'test',
    INTERNAL_SECRET: secret,
    REDIS_PREFIX: prefix,
    JWKS_URL: t.stack.serviceUrl('identity').replace('/graphql', '/.well-known/jwks.json'),
    ...Object.fromEntries(SERVICES.map((s) => [`SUBGRAPH_${s.toUpperCase()}_URL`, t.stack.serviceUrl(s)])),
  });
  second = await createGateway({ env, log: createLogger('gateway-2', 'silent'), redis });
  const r = await gql(
    t.gatewayUrl,
    `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken organization { id } } }`,
    { input: { email: `pq-${Date.now()}@e2e.test`, password: 'correct horse battery', name: 'Pat Persisted', organizationName: 'PQ Org' } },
  );
  expect(r.errors, t.logs()).toBeUndefined();
  token = r.data!.signUp.accessToken;
  orgId = r.data!.signUp.organization.id;
}, 120_000);

afterAll(async () => {
  await second?.close();
  redis?.disconnect();
  await t?.stop();
});

const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(t.gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const get = (params: Record<string, unknown>, headers: Record<string, string> = {}, base = t.gatewayUrl) => {
  const u = new URL(base);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, typeof v === 'string' ? v : JSON.stringify(v));
  return fetch(u, { headers: { accept: 'application/json', ...headers } });
};
type OrgData = { organization: { id: string; name: string; slug: string } | null };
const pq = (hash: string, version = 1) => ({ persistedQuery: { version, sha256Hash: hash } });

describe('automatic persisted queries', () => {
  const query = `query ApqOrgName($id: ID!) { organization(id: $id) { id name } }`;
  const hash = sha256(query);

  it('unknown hash → PERSISTED_QUERY_NOT_FOUND with HTTP 200; then hash + query registers; then hash alone runs (POST)', async () => {
    const miss = await post({ extensions: pq(hash), variables: { id: orgId } }, { authorization: `Bearer ${token}` });
    expect(miss.status).toBe(200);
    expect((await miss.json()).errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    const reg = await post({ query, extensions: pq(hash), variables: { id: orgId } }, { authorization: `Bearer ${token}` });
    expect(reg.status).toBe(200);
    expect((await reg.json()).data.organization.name).toBe('PQ Org');
    const hit = await post({ extensions: pq(hash), variables: { id: orgId } }, { authorization: `Bearer ${token}` });
    expect((await hit.json()).data.organization).toEqual({ id: orgId, name: 'PQ Org' });
    expect(await redis.ttl(`${prefix}apq:${hash}`)).toBeGreaterThan(0);
  });

  it('the same persisted operation runs through a second gateway instance (registered on the first)', async () => {
    const res = await second.yoga.fetch('http://gw2/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ extensions: pq(hash), variables: { id: orgId } }),
    });
    expect(res.status).toBe(200);
    expect((await res.json()).data.organization.name).toBe('PQ Org');
  });

  it('GET by hash works and is cacheable: private with credentials, public without', async () => {
    const priv = await get({ extensions: pq(hash), variables: { id: orgId } }, { authorization: `Bearer ${token}` });
    expect(priv.status).toBe(200);
    expect((await priv.json()).data.organization.name).toBe('PQ Org');
    expect(priv.headers.get('cache-control')).toMatch(/^private, max-age=\d+/);
    const anonQuery = 'query ApqAnonMe { me { id } }';
    const anonHash = sha256(anonQuery);
    const reg = await get({ query: anonQuery, extensions: pq(anonHash) });
    expect((await reg.json()).data).toEqual({ me: null });
    const pub = await get({ extensions: pq(anonHash) });
    expect((await pub.json()).data).toEqual({ me: null });
    expect(pub.headers.get('cache-control')).toMatch(/^public, max-age=\d+/);
    const miss = await get({ extensions: pq(sha256('query Nope { me { id } }')) });
    expect(miss.headers.get('cache-control')).toBe('no-store');
  });

  it('a hash that does not match the query → 400; a version other than 1 → PERSISTED_QUERY_NOT_SUPPORTED', async () => {
    const bad = await post({ query, extensions: pq(sha256('something else')), variables: { id: orgId } }, { authorization: `Bearer ${token}` });
    expect(bad.status).toBe(400);
    expect((await bad.json()).errors[0].message).toBe('provided sha does not match query');
    const v2 = await post({ extensions: pq(hash, 2) }, { authorization: `Bearer ${token}` });
    expect((await v2.json()).errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_SUPPORTED');
  });

  it("Apollo Client's persisted-queries link works unchanged (GET for hashed queries, falls back to registering)", async () => {
    const seen: Array<{ method: string; hasQuery: boolean }> = [];
    const recordingFetch: typeof fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const method = init?.method ?? 'GET';
      seen.push({ method, hasQuery: method === 'GET' ? new URL(url).searchParams.has('query') : String(init?.body).includes('"query"') });
      return fetch(input, init);
    };
    const client = new ApolloClient({
      cache: new InMemoryCache(),
      link: createPersistedQueryLink({ sha256: (q: string) => sha256(q), useGETForHashedQueries: true }).concat(
        new HttpLink({ uri: t.gatewayUrl, fetch: recordingFetch, headers: { authorization: `Bearer ${token}` } }),
      ),
    });
    const doc = agql`query ClientOrg($id: ID!) { organization(id: $id) { id name slug } }`;
    const first = await client.query<OrgData>({ query: doc, variables: { id: orgId }, fetchPolicy: 'network-only' });
    expect(first.data?.organization?.name).toBe('PQ Org');
    const again = await client.query<OrgData>({ query: doc, variables: { id: orgId }, fetchPolicy: 'network-only' });
    expect(again.data?.organization?.name).toBe('PQ Org');
    // miss (hash only) → register (hash + query) → hit (hash only)
    expect(seen.map((s) => s.hasQuery)).toEqual([false, true, false]);
    expect(seen[0]!.method).toBe('GET');
  });
});

describe('trusted documents for partners', () => {
  let partnerKey: string;
  let partnerKeyId: string;
  const auth = () => ({ authorization: `ApiKey ${partnerKey}` });

  beforeAll(async () => {
    const k = await gql(t.gatewayUrl, `mutation { createApiKey(name: "acme", scopes: ["customers:read"]) { apiKey { id } secret } }`, {}, { token });
    expect(k.errors, JSON.stringify(k.errors)).toBeUndefined();
    partnerKey = k.data!.createApiKey.secret;
    partnerKeyId = k.data!.createApiKey.apiKey.id;
  });

  it('refuses a manifest with an invalid operation, naming it', async () => {
    const bad = manifestFromBodies([...PARTNER_OPS, 'query Invalid { me { nope } }']);
    const r = await gql(t.gatewayUrl, `mutation($c: String!, $m: JSON!) { publishPersistedOperations(client: $c, manifest: $m) }`, { c: 'acme', m: bad }, { token });
    expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(r.errors?.[0]?.message).toMatch(/Operation Invalid/);
  });

  it('a partner runs registered operations by hash or documentId (GET and POST); new documents work without a restart', async () => {
    const op = manifest.operations.find((o) => o.name === 'PartnerCustomers')!;
    const before = await post({ documentId: op.id }, auth());
    expect(before.status).toBe(403);
    expect((await before.json()).errors[0].extensions.code).toBe('OPERATION_NOT_ALLOWED');
    const r = await gql(t.gatewayUrl, `mutation($c: String!, $m: JSON!) { publishPersistedOperations(client: $c, manifest: $m) }`, { c: 'acme', m: manifest }, { token });
    expect(r.errors).toBeUndefined();
    expect(r.data!.publishPersistedOperations).toBe(2);
    // the negative lookup is cached a few seconds at most
    let last: unknown;
    await expect
      .poll(async () => (last = await (await post({ documentId: `sha256:${op.id}` }, auth())).json()), { timeout: 10_000, interval: 500 })
      .toMatchObject({ data: { customers: { edges: [] } } })
      .catch((err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(last)}`);
      });
    const byHash = await get({ extensions: pq(op.id) }, auth());
    expect(byHash.status).toBe(200);
    expect((await byHash.json()).data.customers.edges).toEqual([]);
    expect(byHash.headers.get('cache-control')).toMatch(/^private/);
    const viaSecond = await second.yoga.fetch('http://gw2/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth() },
      body: JSON.stringify({ extensions: pq(op.id) }),
    });
    expect((await viaSecond.json()).data.customers.edges).toEqual([]);
  });

  it('a partner sending a raw query, an APQ registration or an unknown id → OPERATION_NOT_ALLOWED, nothing stored', async () => {
    const raw = await post({ query: '{ me { id } }' }, auth());
    expect(raw.status).toBe(403);
    expect((await raw.json()).errors[0].extensions.code).toBe('OPERATION_NOT_ALLOWED');
    // No header lets a request past the safelist (the old in-process lookup marker is gone: lookups no longer use HTTP).
    for (const forged of ['1', 'a'.repeat(64), 'true']) {
      const r = await post({ query: '{ me { id } }' }, { ...auth(), 'x-cos-internal-lookup': forged });
      expect(r.status).toBe(403);
    }
    const q = 'query Sneaky { me { id name } }';
    const reg = await post({ query: q, extensions: pq(sha256(q)) }, auth());
    expect((await reg.json()).errors[0].extensions.code).toBe('OPERATION_NOT_ALLOWED');
    expect(await redis.exists(`${prefix}apq:${sha256(q)}`)).toBe(0);
    const unknown = await post({ extensions: pq(sha256('query Unknown { me { id } }')) }, auth());
    expect((await unknown.json()).errors[0].extensions.code).toBe('OPERATION_NOT_ALLOWED');
    // another client's registration is not this client's
    const other = await gql(t.gatewayUrl, `mutation { createApiKey(name: "globex", scopes: ["customers:read"]) { secret } }`, {}, { token });
    const res = await post({ documentId: manifest.operations[0]!.id }, { authorization: `ApiKey ${other.data!.createApiKey.secret}` });
    expect((await res.json()).errors[0].extensions.code).toBe('OPERATION_NOT_ALLOWED');
  });

  it('a revoked document is refused at once (its cached lookup dropped by the event), the rest of the manifest still runs', async () => {
    const [me, customers] = ['PartnerMe', 'PartnerCustomers'].map((n) => manifest.operations.find((o) => o.name === n)!.id) as [string, string];
    expect((await post({ documentId: customers }, auth())).status).toBe(200);
    // The lookup is cached for an hour (documents are immutable); revocation must not wait for that.
    expect(await redis.exists(`${prefix}pq:${orgId}:acme:${customers}`)).toBe(1);
    const REVOKE = `mutation($c: String!, $id: String!) { revokePersistedOperation(client: $c, id: $id) }`;
    // Only ADMIN/OWNER (apikeys:manage): the partner key itself cannot.
    const self = await post({ query: REVOKE, variables: { c: 'acme', id: customers } }, auth());
    expect((await self.json()).errors[0].extensions.code).toBe('OPERATION_NOT_ALLOWED');
    const r = await gql(t.gatewayUrl, REVOKE, { c: 'acme', id: customers }, { token });
    expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    expect(r.data!.revokePersistedOperation).toBe(true);
    await expect
      .poll(async () => (await post({ documentId: customers }, auth())).status, { timeout: 5_000, interval: 100 })
      .toBe(403);
    expect((await (await post({ extensions: pq(customers) }, auth())).json()).errors[0].extensions.code).toBe('OPERATION_NOT_ALLOWED');
    // Through the second gateway instance too (shared Redis), and the other document is untouched.
    const viaSecond = await second.yoga.fetch('http://gw2/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth() },
      body: JSON.stringify({ extensions: pq(customers) }),
    });
    expect((await viaSecond.json()).errors[0].extensions.code).toBe('OPERATION_NOT_ALLOWED');
    expect((await post({ documentId: me }, auth())).status).toBe(200);
    // Revoking it again: NOT_FOUND. Publishing the manifest again registers it again.
    expect((await gql(t.gatewayUrl, REVOKE, { c: 'acme', id: customers }, { token })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const again = await gql(t.gatewayUrl, `mutation($c: String!, $m: JSON!) { publishPersistedOperations(client: $c, manifest: $m) }`, { c: 'acme', m: manifest }, { token });
    expect(again.data!.publishPersistedOperations).toBe(1);
    await expect
      .poll(async () => (await post({ documentId: customers }, auth())).status, { timeout: 10_000, interval: 250 })
      .toBe(200);
  });

  it('a revoked client is refused', async () => {
    // The key's verdict is cached (it was just used); identity's ApiKeyRevoked event drops it at every gateway, so
    // the revocation takes effect within seconds, well before the 30 s cache TTL.
    expect((await post({ documentId: manifest.operations[0]!.id }, auth())).status).toBe(200);
    expect(await redis.exists(`${prefix}apikey:${sha256(partnerKey)}`)).toBe(1);
    const r = await gql(t.gatewayUrl, `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, { id: partnerKeyId }, { token });
    expect(r.errors).toBeUndefined();
    const revokedAt = Date.now();
    await expect
      .poll(async () => (await post({ documentId: manifest.operations[0]!.id }, auth())).status, { timeout: 5_000, interval: 100 })
      .toBe(401);
    expect(Date.now() - revokedAt).toBeLessThan(5_000);
    const res = await post({ documentId: manifest.operations[0]!.id }, auth());
    expect((await res.json()).errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });
});

describe('trusted documents over subscriptions (partners)', () => {
  const FEED = 'subscription PartnerTaskFeed { taskChanged { kind task { id title } } }';
  const feedId = sha256(FEED);
  let key: string;

  beforeAll(async () => {
    const k = await gql(t.gatewayUrl, `mutation { createApiKey(name: "realtime", scopes: ["tasks:read"]) { secret } }`, {}, { token });
    expect(k.errors, JSON.stringify(k.errors)).toBeUndefined();
    key = k.data!.createApiKey.secret;
    const r = await gql(
      t.gatewayUrl,
      `mutation($c: String!, $m: JSON!) { publishPersistedOperations(client: $c, manifest: $m) }`,
      { c: 'realtime', m: manifestFromBodies([FEED]) },
      { token },
    );
    expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
  });

  /** One graphql-ws subscription with the partner key; what it received and the errors it ended with. */
  function subscribe(payload: { query: string; extensions?: Record<string, unknown> }) {
    const client = createWsClient({
      url: t.gatewayUrl.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `ApiKey ${key}` },
      retryAttempts: 0,
      lazy: false,
      onNonLazyError: () => undefined,
    });
    const results: Array<{ data?: any; errors?: any[] }> = [];
    const failures: unknown[] = [];
    const stop = client.subscribe(payload, { next: (r) => void results.push(r as any), error: (e) => void failures.push(e), complete: () => undefined });
    return { results, failures, dispose: () => (stop(), void client.dispose()) };
  }
  const codesOf = (failure: unknown) => (Array.isArray(failure) ? failure.map((e: any) => e.extensions?.code) : []);

  it('a partner subscribes to its registered subscription by hash and receives events (resolved through the safelist)', async () => {
    const sub = subscribe({ query: '', extensions: { persistedQuery: { version: 1, sha256Hash: feedId } } });
    await new Promise((r) => setTimeout(r, 1_500)); // the subscription registers asynchronously
    const c = await gql(t.gatewayUrl, `mutation { createTask(input: { title: "Seen by a partner" }) { id } }`, {}, { token });
    expect(c.errors).toBeUndefined();
    const got = await eventually(async () => sub.results.find((r) => r.data?.taskChanged?.task?.id === c.data!.createTask.id) ?? null, 15_000);
    expect(got.errors).toBeUndefined();
    expect(got.data.taskChanged).toMatchObject({ kind: 'CREATED', task: { title: 'Seen by a partner' } });
    expect(sub.failures).toEqual([]);
    sub.dispose();
  });

  it('a raw subscription, an unregistered id or a hash that does not match the text → refused, over graphql-ws and graphql-sse', async () => {
    const raw = subscribe({ query: FEED });
    const other = 'subscription Other { approvalRequested { id } }';
    const unknown = subscribe({ query: '', extensions: { persistedQuery: { version: 1, sha256Hash: sha256(other) } } });
    const mismatch = subscribe({ query: other, extensions: { persistedQuery: { version: 1, sha256Hash: feedId } } });
    await eventually(async () => raw.failures.length > 0 && unknown.failures.length > 0 && mismatch.failures.length > 0, 10_000, 100);
    expect(codesOf(raw.failures[0])).toEqual(['OPERATION_NOT_ALLOWED']);
    expect(codesOf(unknown.failures[0])).toEqual(['OPERATION_NOT_ALLOWED']);
    expect(codesOf(mismatch.failures[0])).toEqual(['BAD_USER_INPUT']);
    for (const s of [raw, unknown, mismatch]) {
      expect(s.results).toEqual([]);
      s.dispose();
    }
    // graphql-sse: refused before the stream opens, with the same code and HTTP status as over HTTP.
    const sse = await fetch(t.gatewayUrl.replace(/\/graphql$/, '/graphql/stream'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `ApiKey ${key}` },
      body: JSON.stringify({ query: FEED }),
    });
    expect(sse.status).toBe(403);
    expect((await sse.json()).errors[0].extensions.code).toBe('OPERATION_NOT_ALLOWED');
    // ... and served when it names the registered document.
    const sseClient = createSseClient({ url: t.gatewayUrl.replace(/\/graphql$/, '/graphql/stream'), headers: { authorization: `ApiKey ${key}` }, retryAttempts: 0 });
    const sseResults: Array<{ data?: any }> = [];
    const sseFailures: unknown[] = [];
    const stopSse = sseClient.subscribe(
      { query: FEED, extensions: { persistedQuery: { version: 1, sha256Hash: feedId } } },
      { next: (r) => void sseResults.push(r as any), error: (e) => void sseFailures.push(e), complete: () => undefined },
    );
    await new Promise((r) => setTimeout(r, 1_500));
    const c = await gql(t.gatewayUrl, `mutation { createTask(input: { title: "Seen over SSE by a partner" }) { id } }`, {}, { token });
    await eventually(async () => sseResults.some((r) => r.data?.taskChanged?.task?.id === c.data!.createTask.id) || sseFailures.length > 0, 15_000);
    expect(sseFailures).toEqual([]);
    stopSse();
    sseClient.dispose();
  });
});
