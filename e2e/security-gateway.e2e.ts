/**
 * Issue 4, gateway side, end to end through the real stack: per-field authorization with Router semantics
 * (@authenticated / @requiresScopes / @policy), forged tokens, rate limits, document limits, batching, introspection,
 * CSRF and security headers.
 */
import { createHash, createPrivateKey, generateKeyPairSync, randomUUID, sign, type JsonWebKey } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, gqlOk } from '../scripts/lib/graphql-client';
import { startTestStack, type TestStack } from './support/test-stack';

let t: TestStack;
const PW = 'correct horse battery staple';
let owner: { token: string; userId: string; orgId: string };
let viewer: { token: string; userId: string };
let member: { token: string; userId: string };
let partnerKey: string;
let limitedKey: string;
let customerId: string;

const signUp = async (email: string, name: string, org: string) => {
  const r = await gqlOk(
    t.gatewayUrl,
    `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id } organization { id } } }`,
    { i: { email, password: PW, name, organizationName: org } },
  );
  return { token: r.signUp.accessToken as string, userId: r.signUp.user.id as string, orgId: r.signUp.organization.id as string };
};

/** An existing user invited with a role joins at once, then logs in to that organization. */
const joinAs = async (email: string, name: string, role: 'VIEWER' | 'MEMBER') => {
  const u = await signUp(email, name, `${name} Home`);
  await gqlOk(t.gatewayUrl, `mutation($e: String!, $n: String!, $r: Role!) { inviteMember(email: $e, name: $n, role: $r) { role } }`, { e: email, n: name, r: role }, { token: owner.token });
  const l = await gqlOk(t.gatewayUrl, `mutation($e: String!, $p: String!, $o: ID) { login(email: $e, password: $p, organizationId: $o) { accessToken } }`, {
    e: email,
    p: PW,
    o: owner.orgId,
  });
  return { token: l.login.accessToken as string, userId: u.userId };
};

const createKey = async (name: string, scopes: string[]) =>
  (await gqlOk(t.gatewayUrl, `mutation($n: String!, $s: [String!]!) { createApiKey(name: $n, scopes: $s) { secret } }`, { n: name, s: scopes }, { token: owner.token }))
    .createApiKey.secret as string;

/*
 * Partner keys are safelist-only (trusted documents, issue 6): the partner operations below are registered for the
 * two partner clients and sent by hash.
 */
const CUSTOMERS = `query SecCustomers { customers { totalCount edges { node { id name plan mrr } } } }`;
const COUNT = `query SecCount { customers { totalCount } }`;
const USER = `query SecUser($id: ID!) { user(id: $id) { name email } }`;
const SCHEMA = `query SecSchema { __schema { types { name } } }`;
const TYPE = `query SecType { __type(name: "Customer") { fields { name } } }`;
const PARTNER_OPS = [CUSTOMERS, COUNT, USER, SCHEMA, TYPE];
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

async function byHash(key: string, body: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(t.gatewayUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `ApiKey ${key}` },
    body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: sha256(body) } }, variables }),
  });
  const json = (await res.json()) as { data?: Record<string, any> | null; errors?: Array<{ path?: (string | number)[]; extensions?: Record<string, any> }> };
  return { status: res.status, headers: res.headers, ...json };
}

beforeAll(async () => {
  t = await startTestStack({ extraEnv: { RATE_LIMIT_KEYS: JSON.stringify({ 'sec-limited': 3 }), RATE_LIMIT_WINDOW_S: '3' } });
  owner = await signUp('owner@sec.test', 'Olive Owner', 'Secure Co');
  viewer = await joinAs('viewer@sec.test', 'Vic Viewer', 'VIEWER');
  member = await joinAs('member@sec.test', 'Mel Member', 'MEMBER');
  partnerKey = await createKey('sec-partner', ['customers:read', 'tasks:read']);
  limitedKey = await createKey('sec-limited', ['customers:read']);
  const c = await gqlOk(t.gatewayUrl, `mutation { createCustomer(input: { name: "Initech", plan: "pro", mrr: 990 }) { id } }`, {}, { token: owner.token });
  customerId = c.createCustomer.id;
  const manifest = {
    format: 'apollo-persisted-query-manifest',
    version: 1,
    operations: PARTNER_OPS.map((body) => ({ id: sha256(body), name: /query (\w+)/.exec(body)![1], type: 'query', body })),
  };
  for (const client of ['sec-partner', 'sec-limited']) {
    await gqlOk(t.gatewayUrl, `mutation($c: String!, $m: JSON!) { publishPersistedOperations(client: $c, manifest: $m) }`, { c: client, m: manifest }, { token: owner.token });
  }
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

describe('per-field authorization (Router semantics)', () => {
  it('OWNER reads Customer.mrr', async () => {
    const r = await gql(t.gatewayUrl, CUSTOMERS, {}, { token: owner.token });
    expect(r.errors, t.logs()).toBeUndefined();
    expect(r.data!.customers.edges[0].node).toEqual({ id: customerId, name: 'Initech', plan: 'pro', mrr: 990 });
  });

  it.each([
    ['VIEWER', () => gql(t.gatewayUrl, CUSTOMERS, {}, { token: viewer.token })],
    ['MEMBER', () => gql(t.gatewayUrl, CUSTOMERS, {}, { token: member.token })],
    ['partner key', () => byHash(partnerKey, CUSTOMERS)],
  ])('%s reading mrr gets null + FORBIDDEN at its path, the rest intact', async (_who, run) => {
    const r = await run();
    expect(r.status).toBe(200);
    expect(r.data!.customers).toEqual({ totalCount: 1, edges: [{ node: { id: customerId, name: 'Initech', plan: 'pro', mrr: null } }] });
    expect(r.errors).toEqual([expect.objectContaining({ path: ['customers', 'edges', 0, 'node', 'mrr'], extensions: { code: 'FORBIDDEN' } })]);
  });

  it('anonymous asking for tasks gets UNAUTHENTICATED, while public fields still run', async () => {
    const r = await gql(t.gatewayUrl, `{ me { id } tasks { totalCount } }`);
    expect(r.errors).toEqual([expect.objectContaining({ path: ['tasks'], extensions: { code: 'UNAUTHENTICATED' } })]);
    // tasks is non-null: the null propagates to data, as GraphQL (and Router) do.
    expect(r.data).toBeNull();
    const only = await gql(t.gatewayUrl, `{ me { id } }`);
    expect(only.data).toEqual({ me: null });
  });

  it('a VIEWER mutation is removed before planning: FORBIDDEN and nothing written', async () => {
    const r = await gql(t.gatewayUrl, `mutation { createTask(input: { title: "sneaky" }) { id } }`, {}, { token: viewer.token });
    expect(r.errors).toEqual([expect.objectContaining({ path: ['createTask'], extensions: { code: 'FORBIDDEN' } })]);
    const count = await gqlOk(t.gatewayUrl, `{ tasks(filter: { search: "sneaky" }) { totalCount } }`, {}, { token: owner.token });
    expect(count.tasks.totalCount).toBe(0);
  });

  it('User.email (@policy user_email): self and ADMIN/OWNER of a shared org see it; others get null + FORBIDDEN', async () => {
    const asOwner = await gqlOk(t.gatewayUrl, `query($id: ID!) { organization(id: $id) { members { role user { name email } } } }`, { id: owner.orgId }, { token: owner.token });
    expect(asOwner.organization.members.map((m: { user: { email: string } }) => m.user.email).sort()).toEqual(['member@sec.test', 'owner@sec.test', 'viewer@sec.test']);

    const self = await gqlOk(t.gatewayUrl, `{ me { email } }`, {}, { token: viewer.token });
    expect(self.me.email).toBe('viewer@sec.test');

    const other = await gql(t.gatewayUrl, `query($id: ID!) { user(id: $id) { name email } me { name } }`, { id: owner.userId }, { token: viewer.token });
    expect(other.data).toEqual({ user: null, me: { name: 'Vic Viewer' } });
    expect(other.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([[['user', 'email'], 'FORBIDDEN']]);

    const p = await byHash(partnerKey, USER, { id: owner.userId });
    expect(p.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([[['user', 'email'], 'FORBIDDEN']]);
  });
});

describe('forged credentials → 401', () => {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  let active: { kid: string; jwk: JsonWebKey };

  beforeAll(async () => {
    const client = new pg.Client({ connectionString: t.db.adminUrl });
    await client.connect();
    try {
      const { rows } = await client.query(`SELECT kid, private_jwk FROM identity.signing_keys WHERE retired_at IS NULL AND activated_at IS NOT NULL`);
      active = { kid: rows[0].kid, jwk: rows[0].private_jwk };
    } finally {
      await client.end();
    }
  });

  const now = () => Math.floor(Date.now() / 1000);
  const claims = (over: Record<string, unknown> = {}) => ({
    sub: owner.userId,
    org: owner.orgId,
    role: 'OWNER',
    iss: 'cos-identity',
    aud: 'cos-graph',
    iat: now(),
    exp: now() + 300,
    jti: randomUUID(),
    ...over,
  });
  const jwt = (header: Record<string, unknown>, payload: Record<string, unknown>, key: Parameters<typeof sign>[2] | null) => {
    const input = `${b64(header)}.${b64(payload)}`;
    return `${input}.${key ? sign(null, Buffer.from(input), key).toString('base64url') : ''}`;
  };
  const real = () => createPrivateKey({ key: active.jwk, format: 'jwk' });
  const expect401 = async (token: string) => {
    const r = await gql(t.gatewayUrl, `{ me { id } }`, {}, { token });
    expect(r.status).toBe(401);
    expect(r.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  };

  it('a token we sign with the real key is accepted (the forgeries below differ in one thing each)', async () => {
    const r = await gql(t.gatewayUrl, `{ me { id } }`, {}, { token: jwt({ alg: 'EdDSA', kid: active.kid, typ: 'JWT' }, claims(), real()) });
    expect(r.data).toEqual({ me: { id: owner.userId } });
  });
  it('alg none', () => expect401(jwt({ alg: 'none', kid: active.kid, typ: 'JWT' }, claims(), null)));
  it('wrong key (same kid)', () => expect401(jwt({ alg: 'EdDSA', kid: active.kid, typ: 'JWT' }, claims(), generateKeyPairSync('ed25519').privateKey)));
  it('expired', () => expect401(jwt({ alg: 'EdDSA', kid: active.kid, typ: 'JWT' }, claims({ iat: now() - 3600, exp: now() - 600 }), real())));
  it('wrong audience', () => expect401(jwt({ alg: 'EdDSA', kid: active.kid, typ: 'JWT' }, claims({ aud: 'someone-else' }), real())));
  it('garbage', () => expect401('not.a.jwt'));
});

describe('rate limits', () => {
  it('a partner key over its own limit gets 429 RATE_LIMITED with Retry-After, then recovers', async () => {
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof byHash>> | undefined;
    for (let i = 0; i < 5; i++) {
      const r = await byHash(limitedKey, COUNT);
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses.slice(3)).toEqual([429, 429]);
    expect(limited!.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    const retryAfter = Number(limited!.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(3);
    // Other callers are unaffected.
    expect((await byHash(partnerKey, COUNT)).status).toBe(200);
    await new Promise((r) => setTimeout(r, retryAfter * 1000 + 100));
    const again = await byHash(limitedKey, COUNT);
    expect(again.status).toBe(200);
    expect(again.headers.get('ratelimit-limit')).toBe('3');
  });
});

describe('document limits, batching, introspection, CSRF, headers', () => {
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(t.gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.token}`, ...headers }, body: JSON.stringify(body) });

  it.each([
    ['alias bomb', `{ ${Array.from({ length: 200 }, (_, i) => `a${i}: me { id }`).join(' ')} }`],
    ['deep nesting', `{ me { ${'memberships { organization { members { user { '.repeat(6)}id${' } } } }'.repeat(6)} } }`],
    ['huge query', `{ ${Array.from({ length: 3000 }, () => '__typename').join(' ')} }`],
  ])('%s → QUERY_TOO_COMPLEX', async (_name, query) => {
    const r = await gql(t.gatewayUrl, query, {}, { token: owner.token });
    expect(r.status).toBe(400);
    expect(r.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
  });

  it('refuses batched operations (a JSON array)', async () => {
    const res = await post(Array.from({ length: 50 }, () => ({ query: '{ me { id } }' })));
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    const text = await res.text();
    expect(text).not.toContain(owner.userId);
  });

  it('introspection: refused for a partner key, allowed for a first-party user outside production', async () => {
    const p = await byHash(partnerKey, SCHEMA);
    expect(p.data ?? null).toBeNull();
    expect(p.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const typeProbe = await byHash(partnerKey, TYPE);
    expect(typeProbe.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const u = await gql(t.gatewayUrl, `{ __schema { queryType { name } } }`, {}, { token: owner.token });
    expect(u.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
  });

  it('CSRF: a simple GET without a preflight header is refused; with one (or credentials) it runs', async () => {
    const url = `${t.gatewayUrl}?query=${encodeURIComponent('{ me { id } }')}`;
    const simple = await fetch(url);
    expect(simple.status).toBe(400);
    expect(await simple.text()).toContain('cross-site request forgery');
    const form = await fetch(t.gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'query=%7B%20me%20%7B%20id%20%7D%20%7D' });
    expect(form.status).toBe(400);
    const withHeader = await fetch(url, { headers: { 'x-graphql-csrf': '1', accept: 'application/json' } });
    expect(withHeader.status).toBe(200);
    expect(await withHeader.json()).toEqual({ data: { me: null } });
  });

  it('sets security headers on every response', async () => {
    const res = await post({ query: '{ me { id } }' });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('strict-transport-security')).toBeNull(); // only in production
  });
});
