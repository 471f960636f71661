import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { createYoga, type Plugin } from 'graphql-yoga';
import { Redis } from 'ioredis';
import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scopesForRole, type AuthenticatedPrincipal, type Principal } from '@cos/auth';
import { createLogger } from '@cos/logger';
import { invalidateApiKey } from '../src/auth/api-keys';
import { AuthenticationError, type Authentication } from '../src/core';
import { createGateway, type Gateway } from '../src/server';
import { createSubscriptionBridge, type SubscriptionBridge } from '../src/subscriptions';
import { composeSupergraph, listen, startIssuer, startSubgraph, testGatewayEnv, type Listening, type TestIssuer } from './fixtures';

/** A subgraph with a field only `audit:read` may see (OWNER/ADMIN, not VIEWER). */
const VAULT_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@requiresScopes"])
  type Query {
    motto: String
    auditTrail: String @requiresScopes(scopes: [["audit:read"]])
  }
`;

/** identity's key verification route, with keys that can be revoked. */
const keys = new Map<string, { keyId: string; orgId: string; clientName: string; scopes: string[] }>([
  ['cos_live_partner', { keyId: 'key-p', orgId: 'org-k', clientName: 'Partner', scopes: ['tasks:read'] }],
  ['cos_live_doomed', { keyId: 'key-d', orgId: 'org-k', clientName: 'Doomed', scopes: ['tasks:read'] }],
]);

let accounts: Awaited<ReturnType<typeof startSubgraph>>;
let vault: Listening;
let identity: Listening;
let issuer: TestIssuer;
let redis: Redis;
let gateway: Gateway;
let http: Listening;
let redisPrefix: string;
/** Requests that reached the gateway's HTTP pipeline (yoga's onRequest). */
let httpRequests = 0;

const user = (role: 'OWNER' | 'VIEWER'): Extract<AuthenticatedPrincipal, { kind: 'user' }> => ({
  kind: 'user',
  userId: `u-${role.toLowerCase()}`,
  orgId: 'org-1',
  role,
  scopes: scopesForRole(role),
});

beforeAll(async () => {
  [accounts, issuer] = await Promise.all([startSubgraph('accounts'), startIssuer()]);
  const schema = buildSubgraphSchema([
    { typeDefs: parse(VAULT_SDL), resolvers: { Query: { motto: () => 'keep it simple', auditTrail: () => 'everything' } } as never },
  ]);
  vault = await listen(createYoga({ schema, logging: false, landingPage: false }));
  identity = await listen(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const { secret } = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { secret?: string };
    const key = req.url === '/internal/api-keys/verify' && secret ? keys.get(secret) : undefined;
    if (!key) res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unknown key"}');
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(key));
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'gw-core-'));
  const supergraphPath = path.join(dir, 'supergraph.graphql');
  await writeFile(supergraphPath, composeSupergraph([accounts, { name: 'vault', url: vault.url, typeDefs: VAULT_SDL }]));
  redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const env = testGatewayEnv({ supergraphPath, jwksUrl: issuer.jwksUrl, IDENTITY_INTERNAL_URL: identity.url });
  redisPrefix = env.REDIS_PREFIX;
  const countRequests: Plugin = {
    onRequest() {
      httpRequests++;
    },
  };
  gateway = await createGateway({
    env,
    log: createLogger('gateway-core-test', 'silent'),
    redis,
    // One HTTP request per user per minute: core execute must not be counted (nor refused) by it.
    rateLimit: { perUser: 1 },
    plugins: { observability: [countRequests] },
  });
  http = await listen(gateway.yoga);
});

afterAll(async () => {
  await http?.close();
  await gateway?.close();
  redis?.disconnect();
  await Promise.all([accounts?.close(), vault?.close(), identity?.close(), issuer?.close()]);
});

async function refused(credential: Parameters<Gateway['authenticate']>[0]): Promise<AuthenticationError> {
  const err = await gateway.authenticate(credential).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthenticationError);
  expect((err as AuthenticationError).extensions.code).toBe('UNAUTHENTICATED');
  return err as AuthenticationError;
}

async function overHttp(query: string, headers: Record<string, string>) {
  const res = await fetch(`${http.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: JSON.stringify({ query }),
  });
  return { status: res.status, body: (await res.json()) as { data?: unknown; errors?: Array<{ message: string; path?: unknown[]; extensions?: { code?: string } }> } };
}

describe('core authenticate', () => {
  it('reads a Bearer JWT into the user principal, with its expiry', async () => {
    const token = await issuer.sign({ sub: 'u-7', org: 'org-1', role: 'MEMBER' }, { expiresIn: '10m' });
    const auth = (await gateway.authenticate({ authorization: `Bearer ${token}` })) as Authentication;
    expect(auth.principal).toEqual({ kind: 'user', userId: 'u-7', orgId: 'org-1', role: 'MEMBER', scopes: scopesForRole('MEMBER') });
    expect(auth.kind).toBe('jwt');
    expect(auth.expiresAt).toBeGreaterThan(Date.now() + 9 * 60_000);
    expect(auth.expiresAt).toBeLessThanOrEqual(Date.now() + 10 * 60_000);
  });

  it('no credential is anonymous (null); HTTP decides anonymous may ask, subscriptions refuse it', async () => {
    expect(await gateway.authenticate({})).toBeNull();
    expect(await gateway.authenticate({ authorization: '  ', apiKey: null })).toBeNull();
  });

  it('refuses a malformed, expired, foreign-signed or wrong-audience token and an unknown scheme as UNAUTHENTICATED', async () => {
    const { privateKey: foreign } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const expired = await issuer.sign({ sub: 'u-7', org: 'org-1', role: 'OWNER' }, { expiresIn: Math.floor(Date.now() / 1000) - 120 });
    const forged = await issuer.sign({ sub: 'u-7', org: 'org-1', role: 'OWNER' }, { key: foreign });
    const otherAudience = await issuer.sign({ sub: 'u-7', org: 'org-1', role: 'OWNER' }, { audience: 'someone-else' });
    for (const authorization of ['Bearer not-a-jwt', `Bearer ${expired}`, `Bearer ${forged}`, `Bearer ${otherAudience}`, 'Bearer', 'Basic dTpw']) {
      await refused({ authorization });
    }
    // The same verdict over HTTP: 401 for the whole request.
    const res = await overHttp('{ motto }', { authorization: `Bearer ${expired}` });
    expect(res.status).toBe(401);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('reads an API key (Authorization: ApiKey or X-API-Key) into the partner principal; an unknown key is refused', async () => {
    const expected = { kind: 'apiKey', keyId: 'key-p', orgId: 'org-k', clientName: 'Partner', scopes: ['tasks:read'] };
    expect((await gateway.authenticate({ authorization: 'ApiKey cos_live_partner' }))?.principal).toEqual(expected);
    const viaHeader = await gateway.authenticate({ apiKey: 'cos_live_partner' });
    expect(viaHeader).toMatchObject({ principal: expected, kind: 'apiKey', expiresAt: null });
    await refused({ apiKey: 'cos_live_nope' });
    await refused({ authorization: 'ApiKey cos_live_nope' });
  });

  it('a revoked key is refused at once (the revocation drops its cached verdict)', async () => {
    expect((await gateway.authenticate({ apiKey: 'cos_live_doomed' }))?.principal).toMatchObject({ keyId: 'key-d' });
    keys.delete('cos_live_doomed');
    // Still cached: what auth/revocations.ts does on identity's ApiKeyRevoked event makes it go now, not at the TTL.
    expect((await gateway.authenticate({ apiKey: 'cos_live_doomed' }))?.principal).toMatchObject({ keyId: 'key-d' });
    expect(await invalidateApiKey(redis, redisPrefix, 'key-d')).toBeGreaterThan(0);
    await refused({ apiKey: 'cos_live_doomed' });
    const res = await overHttp('{ motto }', { 'x-api-key': 'cos_live_doomed' });
    expect(res.status).toBe(401);
  });

  it('a person’s token issued before a revocation of them (erased; removed from that organization) is refused', async () => {
    const [inOrg, elsewhere] = await Promise.all([
      issuer.sign({ sub: 'u-removed', org: 'org-1', role: 'MEMBER' }),
      issuer.sign({ sub: 'u-removed', org: 'org-2', role: 'MEMBER' }),
    ]);
    expect((await gateway.authenticate({ authorization: `Bearer ${inOrg}` }))?.issuedAt).toBeGreaterThan(0);
    // What auth/revocations.ts records on identity's MemberRemoved: that organization only.
    await gateway.tokenRevocations.record({ userId: 'u-removed', orgId: 'org-1', at: Date.now() });
    expect((await refused({ authorization: `Bearer ${inOrg}` })).message).toBe('Access token revoked');
    expect((await gateway.authenticate({ authorization: `Bearer ${elsewhere}` }))?.principal).toMatchObject({ orgId: 'org-2' });
    const res = await overHttp('{ motto }', { authorization: `Bearer ${inOrg}` });
    expect(res.status).toBe(401);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    // On UserErased: every organization.
    await gateway.tokenRevocations.record({ userId: 'u-removed', orgId: null, at: Date.now() });
    await refused({ authorization: `Bearer ${elsewhere}` });
  });
});

describe('core execute', () => {
  it('applies the same authorization as HTTP: a VIEWER gets motto, and null + FORBIDDEN for auditTrail', async () => {
    const viewer = await execute(user('VIEWER'), '{ motto auditTrail }');
    expect(viewer.data).toEqual({ motto: 'keep it simple', auditTrail: null });
    expect(viewer.errors).toHaveLength(1);
    expect(viewer.errors?.[0]).toMatchObject({ path: ['auditTrail'], extensions: { code: 'FORBIDDEN' } });

    const token = await issuer.sign({ sub: 'u-viewer-http', org: 'org-1', role: 'VIEWER' });
    const res = await overHttp('{ motto auditTrail }', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(viewer.data);
    expect(res.body.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([[['auditTrail'], 'FORBIDDEN']]);

    expect(await execute(user('OWNER'), '{ motto auditTrail }')).toEqual({ data: { motto: 'keep it simple', auditTrail: 'everything' } });
  });

  it('signs the given principal into the subgraph call, with variables and an operation name', async () => {
    const before = accounts.seen.length;
    const owner = user('OWNER');
    const r = await execute(owner, 'query Other { motto } query Who($id: ID!) { viewer { kind id } user(id: $id) { name } }', { id: 'u1' }, 'Who');
    expect(r).toEqual({ data: { viewer: { kind: 'user', id: owner.userId }, user: { name: 'Ada' } } });
    const seen = accounts.seen.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    for (const s of seen) expect(s.principal).toEqual(owner);
  });

  it('applies the document limits and validation: too many aliases, unknown fields, syntax errors', async () => {
    const aliases = Array.from({ length: 20 }, (_, i) => `a${i}: motto`).join(' ');
    const tooMany = await execute(user('OWNER'), `{ ${aliases} }`);
    expect(tooMany.data).toBeUndefined();
    expect(tooMany.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
    expect((await execute(user('OWNER'), '{ nope }')).errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect((await execute(user('OWNER'), '{ motto ')).errors?.[0]?.message).toMatch(/Syntax Error/);
  });

  it('runs in process: no HTTP request, no rate limit (which still applies to every HTTP request)', async () => {
    const token = await issuer.sign({ sub: 'u-limited', org: 'org-1', role: 'OWNER' });
    const limited: Principal = { kind: 'user', userId: 'u-limited', orgId: 'org-1', role: 'OWNER', scopes: scopesForRole('OWNER') };
    const before = httpRequests;
    for (let i = 0; i < 5; i++) expect((await execute(limited, '{ motto }')).data).toEqual({ motto: 'keep it simple' });
    expect(httpRequests).toBe(before);
    expect((await overHttp('{ motto }', { authorization: `Bearer ${token}` })).status).toBe(200);
    const second = await overHttp('{ motto }', { authorization: `Bearer ${token}` });
    expect(second.status).toBe(429);
    expect(second.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
  });
});

describe('subscription lookups', () => {
  let bridge: SubscriptionBridge;
  let authentications = 0;
  let executions = 0;

  beforeAll(() => {
    bridge = createSubscriptionBridge({
      gateway: {
        apollo: gateway.apollo,
        resolvePersisted: gateway.resolvePersisted,
        subscriptionDenials: gateway.subscriptionDenials,
        authenticate: (c) => {
          authentications++;
          return gateway.authenticate(c);
        },
        execute: (...args) => {
          executions++;
          return gateway.execute(...args);
        },
      },
      bus: { bus: undefined, up: false },
      subjectPrefix: 'core-test',
      log: createLogger('gateway-core-test', 'silent'),
    });
  });
  afterAll(async () => {
    await bridge?.close();
  });

  it("resolve in process as the connection's principal: no HTTP request, no credential verified again", async () => {
    const beforeHttp = httpRequests;
    const viewer = user('VIEWER');
    const r = await bridge.engine.execute('query CosSubscriptionLookup { motto auditTrail }', {}, viewer);
    expect(r.body.data).toEqual({ motto: 'keep it simple', auditTrail: null });
    expect(r.body.errors?.[0]).toMatchObject({ path: ['auditTrail'], extensions: { code: 'FORBIDDEN' } });
    expect(executions).toBe(1);
    expect(authentications).toBe(0);
    expect(httpRequests).toBe(beforeHttp);
  });
});

const execute = (principal: Principal, query: string, variables?: Record<string, unknown>, operationName?: string) =>
  gateway.execute(principal, query, variables, operationName);
