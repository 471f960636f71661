/**
 * What an attacker would try, end to end: a VIEWER calling every mutation, injection attempts in filters and
 * search, tampered internal headers sent straight to the subgraphs, and password guessing through the gateway.
 * Each gets its proper error, leaks nothing (no SQL, no stack) and changes nothing.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scopesForRole, signPrincipal, type Principal } from '@cos/auth';
import { eventually, gql, gqlOk, type GraphQLResponse } from '../scripts/lib/graphql-client';
import { SERVICES } from '../scripts/lib/paths';
import { startTestStack, type TestStack } from './support/test-stack';

const internalSecret = randomBytes(32).toString('hex');
const PASSWORD = 'attack-pass-4242';
let t: TestStack;
let admin: pg.Pool;

const ctx = {} as {
  owner: string;
  ownerId: string;
  ownerEmail: string;
  orgId: string;
  viewer: string;
  viewerId: string;
  viewerEmail: string;
  taskId: string;
  customerId: string;
  agentId: string;
  runId: string;
  approvalId: string;
  apiKeyId: string;
};

const as = <T = Record<string, any>>(token: string, query: string, variables: Record<string, unknown> = {}) =>
  gql<T>(t.gatewayUrl, query, variables, { token });
const ok = <T = Record<string, any>>(token: string, query: string, variables: Record<string, unknown> = {}) =>
  gqlOk<T>(t.gatewayUrl, query, variables, { token });
const codes = (r: GraphQLResponse) => (r.errors ?? []).map((e) => e.extensions?.code);

function expectNoInternals(r: GraphQLResponse) {
  for (const e of r.errors ?? []) {
    expect(e.message).not.toMatch(/\b(select|insert into|delete from|drop table|relation|syntax error|tsquery|postgres|pg_)\b/i);
    expect(e.message).not.toMatch(/\.ts:\d+|node_modules|at \w+ \(/);
    expect(JSON.stringify(e.extensions ?? {})).not.toMatch(/stack|exception|sql/i);
  }
}

const signUp = async (tag: string) => {
  const email = `${tag}-${randomBytes(4).toString('hex')}@attacks.test`;
  const r = await gqlOk(t.gatewayUrl, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id } organization { id } } }`, {
    i: { email, password: PASSWORD, name: `Person ${tag}`, organizationName: `Org ${tag}` },
  });
  return { token: r.signUp.accessToken as string, userId: r.signUp.user.id as string, orgId: r.signUp.organization.id as string, email };
};

beforeAll(async () => {
  t = await startTestStack({ internalSecret });
  admin = new pg.Pool({ connectionString: t.db.adminUrl, max: 2 });
  try {
    const o = await signUp('owner');
    Object.assign(ctx, { owner: o.token, ownerId: o.userId, ownerEmail: o.email, orgId: o.orgId });
    // The viewer: an existing person invited as VIEWER joins at once, then signs in to this organization.
    const v = await signUp('viewer');
    await ok(ctx.owner, `mutation($e: String!) { inviteMember(email: $e, name: "Vera Viewer", role: VIEWER) { role } }`, { e: v.email });
    const login = await gqlOk(t.gatewayUrl, `mutation($e: String!, $p: String!, $o: ID) { login(email: $e, password: $p, organizationId: $o) { accessToken } }`, {
      e: v.email,
      p: PASSWORD,
      o: ctx.orgId,
    });
    Object.assign(ctx, { viewer: login.login.accessToken, viewerId: v.userId, viewerEmail: v.email });

    ctx.customerId = (await ok(ctx.owner, `mutation { createCustomer(input: { name: "Initech", mrr: 900 }) { id } }`)).createCustomer.id;
    await ok(ctx.owner, `mutation($c: ID!) { recordSignal(customerId: $c, input: { kind: NPS, value: 7 }) { score } }`, { c: ctx.customerId });
    ctx.taskId = (
      await ok(ctx.owner, `mutation($c: ID!) { createTask(input: { title: "Quarterly renewal review", customerId: $c }) { id } }`, { c: ctx.customerId })
    ).createTask.id;
    const agents = await eventually(async () => {
      const r = await ok(ctx.owner, `{ agents { id kind } }`);
      return r.agents.length >= 7 && r.agents;
    }, 20_000);
    ctx.agentId = agents.find((a: { kind: string }) => a.kind === 'SUPPORT').id;
    const supportTask = (await ok(ctx.owner, `mutation { createTask(input: { title: "Answer the ticket" }) { id } }`)).createTask.id;
    // The SUPPORT agent runs in a worker (through the graph); its request for approval gives an Approval to attack.
    await t.startWorker({ adminToken: ctx.owner, kinds: ['SUPPORT'] });
    ctx.runId = await eventually(async () => {
      const r = await as(ctx.owner, `mutation($t: ID!, $a: ID!) { startAgentRun(taskId: $t, agentId: $a) { id } }`, { t: supportTask, a: ctx.agentId });
      return r.data?.startAgentRun?.id as string | undefined;
    }, 20_000);
    ctx.approvalId = await eventually(async () => {
      const r = await ok(ctx.owner, `{ pendingApprovals { id task { id } } }`);
      return r.pendingApprovals.find((p: { task: { id: string } }) => p.task.id === supportTask)?.id;
    }, 30_000);
    ctx.apiKeyId = (await ok(ctx.owner, `mutation { createApiKey(name: "reporting", scopes: ["tasks:read"]) { apiKey { id } } }`)).createApiKey.apiKey.id;
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${t.logs()}`, { cause: err });
  }
}, 120_000);
afterAll(async () => {
  await admin?.end();
  await t?.stop();
});

/** Everything a mutation could change, read as the OWNER, plus the row counts of the event stores. */
async function snapshot() {
  const data = await ok(
    ctx.owner,
    `query($t: ID!, $c: ID!, $r: ID!, $o: ID!) {
       task(id: $t) { version title status priority assignee { __typename } comments { id } }
       tasks(first: 50) { totalCount }
       customers(first: 50) { totalCount }
       customer(id: $c) { name healthHistory(last: 50) { score } }
       agentRun(id: $r) { status }
       pendingApprovals { id status }
       organization(id: $o) { members { role user { id } } } }`,
    { t: ctx.taskId, c: ctx.customerId, r: ctx.runId, o: ctx.orgId },
  );
  const counts: Record<string, number> = {};
  for (const svc of SERVICES) {
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM ${svc}.events WHERE type NOT IN ('UserLoggedIn', 'LoginFailed')`);
    counts[svc] = rows[0].n;
  }
  const keys = await admin.query(`SELECT id, revoked_at FROM identity.api_keys ORDER BY id`);
  return { data, counts, keys: keys.rows };
}

describe('a VIEWER trying every mutation', () => {
  let before: Awaited<ReturnType<typeof snapshot>>;
  beforeAll(async () => {
    // Let reactions to the set-up settle before taking the reference snapshot.
    await new Promise((r) => setTimeout(r, 1_500));
    before = await snapshot();
  });

  const mutations: [string, string, () => Record<string, unknown>][] = [
    ['createTask', `mutation { createTask(input: { title: "viewer task" }) { id } }`, () => ({})],
    ['updateTask', `mutation($id: ID!) { updateTask(id: $id, expectedVersion: 1, input: { title: "x" }) { id } }`, () => ({ id: ctx.taskId })],
    ['changeTaskStatus', `mutation($id: ID!) { changeTaskStatus(id: $id, expectedVersion: 1, status: DONE) { id } }`, () => ({ id: ctx.taskId })],
    ['assignTask', `mutation($id: ID!, $a: ID!) { assignTask(id: $id, assigneeId: $a) { id } }`, () => ({ id: ctx.taskId, a: ctx.viewerId })],
    ['addComment', `mutation($id: ID!) { addComment(taskId: $id, body: "x") { id } }`, () => ({ id: ctx.taskId })],
    ['decideApproval', `mutation($id: ID!) { decideApproval(id: $id, approve: true) { id } }`, () => ({ id: ctx.approvalId })],
    ['createCustomer', `mutation { createCustomer(input: { name: "Viewer Corp" }) { id } }`, () => ({})],
    ['recordSignal', `mutation($id: ID!) { recordSignal(customerId: $id, input: { kind: NPS, value: 0 }) { score } }`, () => ({ id: ctx.customerId })],
    ['startAgentRun', `mutation($t: ID!, $a: ID!) { startAgentRun(taskId: $t, agentId: $a) { id } }`, () => ({ t: ctx.taskId, a: ctx.agentId })],
    ['cancelAgentRun', `mutation($id: ID!) { cancelAgentRun(id: $id) { id } }`, () => ({ id: ctx.runId })],
    ['inviteMember', `mutation { inviteMember(email: "new@attacks.test", name: "New", role: OWNER) { role } }`, () => ({})],
    ['changeRole (self to OWNER)', `mutation($id: ID!) { changeRole(userId: $id, role: OWNER) { role } }`, () => ({ id: ctx.viewerId })],
    ['changeRole (owner down)', `mutation($id: ID!) { changeRole(userId: $id, role: VIEWER) { role } }`, () => ({ id: ctx.ownerId })],
    ['removeMember', `mutation($id: ID!) { removeMember(userId: $id) }`, () => ({ id: ctx.ownerId })],
    ['createApiKey', `mutation { createApiKey(name: "mine", scopes: ["tasks:write"]) { secret } }`, () => ({})],
    ['revokeApiKey', `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, () => ({ id: ctx.apiKeyId })],
    ['publishPersistedOperations', `mutation { publishPersistedOperations(client: "evil", manifest: { format: "apollo-persisted-query-manifest", version: 1, operations: [] }) }`, () => ({})],
  ];
  for (const [name, mutation, vars] of mutations) {
    it(`${name} → FORBIDDEN`, async () => {
      const r = await as(ctx.viewer, mutation, vars());
      expect(codes(r), JSON.stringify(r.errors)).toEqual(['FORBIDDEN']);
      expectNoInternals(r);
    });
  }

  it('nothing changed (read models, event stores, API keys)', async () => {
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await snapshot()).toEqual(before);
    // The viewer can still read: the refusals were about permissions, not a broken session.
    const r = await ok(ctx.viewer, `query($id: ID!) { task(id: $id) { title } }`, { id: ctx.taskId });
    expect(r.task.title).toBe('Quarterly renewal review');
  });
});

describe('injection attempts in filters and search are harmless', () => {
  const nasty = [
    "'; DROP TABLE tasks; --",
    "renewal' OR '1'='1",
    '%',
    '%%_%',
    '\\',
    '\\\\x00',
    'renewal & !review | (quarterly <-> x):*',
    '!!!&&&|||<->:*()',
    '"unterminated',
    "$$; SELECT pg_sleep(5); $$",
    'a'.repeat(10_000),
    Array.from({ length: 2_000 }, (_, i) => `w${i}`).join(' | '),
    '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🧨',
  ];

  it('search: every string answers normally (or a clean BAD_USER_INPUT), never an internal error', async () => {
    for (const s of nasty) {
      const started = Date.now();
      const r = await as(ctx.owner, `query($f: TaskFilter) { tasks(filter: $f, first: 10) { totalCount edges { node { id } } } }`, { f: { search: s } });
      expectNoInternals(r);
      expect(codes(r).filter((c) => c !== 'BAD_USER_INPUT'), `${JSON.stringify(s.slice(0, 40))}: ${JSON.stringify(r.errors)}`).toEqual([]);
      if (!r.errors) expect(r.data!.tasks.totalCount).toBeLessThanOrEqual(1);
      expect(Date.now() - started).toBeLessThan(4_000);
    }
  });

  it('a NUL byte or a lone surrogate in search is BAD_USER_INPUT on filter.search, nothing leaked', async () => {
    for (const search of ['a\u0000b', '\u0000', 'x\uD800y', '\uDC00']) {
      const r = await as(ctx.owner, `query($f: TaskFilter) { tasks(filter: $f) { totalCount } }`, { f: { search } });
      expectNoInternals(r);
      expect(r.errors?.[0]?.message ?? '').not.toMatch(/0x00|UTF8|byte/i);
      expect(codes(r), JSON.stringify(search)).toEqual(['BAD_USER_INPUT']);
      expect((r.errors?.[0]?.extensions as { field?: string } | undefined)?.field).toBe('filter.search');
    }
  });

  it('id filters: malformed ids are BAD_USER_INPUT with the field named', async () => {
    for (const field of ['customerId', 'assigneeId']) {
      for (const s of nasty.slice(0, 5)) {
        const r = await as(ctx.owner, `query($f: TaskFilter) { tasks(filter: $f) { totalCount } }`, { f: { [field]: s } });
        expectNoInternals(r);
        expect(codes(r)).toEqual(['BAD_USER_INPUT']);
      }
    }
    for (const q of [`query($id: ID!) { task(id: $id) { id } }`, `query($id: ID!) { customer(id: $id) { id } }`, `query($id: ID!) { agentRun(id: $id) { id } }`]) {
      const r = await as(ctx.owner, q, { id: "1' OR '1'='1" });
      expectNoInternals(r);
      expect(codes(r).every((c) => c === 'BAD_USER_INPUT' || c === 'NOT_FOUND')).toBe(true);
    }
  });

  it('injection strings stored as data stay data; every table is intact', async () => {
    const title = "Robert'); DROP TABLE tasks;-- %\\ & | !";
    const r = await ok(ctx.owner, `mutation($t: String!) { createTask(input: { title: $t }) { id title } }`, { t: title });
    expect(r.createTask.title).toBe(title);
    const found = await ok(ctx.owner, `query($id: ID!) { task(id: $id) { title } }`, { id: r.createTask.id });
    expect(found.task.title).toBe(title);
    for (const svc of SERVICES) {
      const { rows } = await admin.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1`, [svc]);
      expect(rows[0].n, svc).toBeGreaterThan(2);
    }
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM tasks.tasks`);
    expect(rows[0].n).toBeGreaterThanOrEqual(3);
  });
});

describe('tampered internal headers sent straight to a subgraph → 401', () => {
  const viewerPrincipal = (): Principal => ({ kind: 'user', userId: ctx.viewerId, orgId: ctx.orgId, role: 'VIEWER', scopes: scopesForRole('VIEWER') });
  const post = (service: (typeof SERVICES)[number], headers: Record<string, string>, query = `mutation { createCustomer(input: { name: "Forged" }) { id } }`) =>
    fetch(t.stack.serviceUrl(service), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }) });

  it('payload swapped for an OWNER principal, wrong secret, stale timestamp, missing signature, garbage', async () => {
    const genuine = signPrincipal(viewerPrincipal(), internalSecret);
    const [payloadHeader, signatureHeader] = Object.keys(genuine) as [string, string];
    const owner: Principal = { ...viewerPrincipal(), role: 'OWNER', scopes: scopesForRole('OWNER') } as Principal;
    const forgedPayload = Buffer.from(JSON.stringify(owner)).toString('base64url');
    const variants: Record<string, Record<string, string>> = {
      'escalated payload, original signature': { [payloadHeader]: forgedPayload, [signatureHeader]: genuine[signatureHeader]! },
      'signed with another secret': signPrincipal(owner, randomBytes(32).toString('hex')),
      'stale (10 minutes old)': signPrincipal(owner, internalSecret, Date.now() - 10 * 60_000),
      'no signature': { [payloadHeader]: forgedPayload },
      'no headers at all': {},
      garbage: { [payloadHeader]: '!!!', [signatureHeader]: 'v1,abc,zz' },
    };
    for (const service of SERVICES) {
      for (const [name, headers] of Object.entries(variants)) {
        const res = await post(service, headers);
        expect(res.status, `${service}: ${name}`).toBe(401);
        const text = await res.text();
        expect(text).not.toMatch(/at \w+ \(|\.ts:\d+/);
      }
      // Control: the genuine viewer header is accepted (and the viewer is still refused the mutation).
      const control = await post(service, signPrincipal(viewerPrincipal(), internalSecret), `{ _service { sdl } }`);
      expect(control.status, service).toBe(200);
    }
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM customers.customers WHERE name = 'Forged'`);
    expect(rows[0].n).toBe(0);
  });
});

describe('password guessing through the gateway', () => {
  it('is throttled per account with RATE_LIMITED and a retry-after; the client IP reaches identity', async () => {
    const victim = ctx.ownerEmail;
    const LOGIN = `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }`;
    for (let i = 0; i < 5; i++) {
      const r = await gql(t.gatewayUrl, LOGIN, { e: victim, p: `guess-number-${i}` });
      expect(codes(r)).toEqual(['UNAUTHENTICATED']);
    }
    const locked = await gql(t.gatewayUrl, LOGIN, { e: victim, p: PASSWORD });
    expect(codes(locked)).toEqual(['RATE_LIMITED']);
    expect(locked.errors![0]!.extensions!.retryAfter).toBeGreaterThan(0);
    expect(locked.data?.login ?? null).toBeNull();
    const { rows } = await admin.query(`SELECT DISTINCT ip FROM identity.login_attempts`);
    expect(rows.map((r) => r.ip)).toEqual([expect.stringMatching(/127\.0\.0\.1|::1/)]);
    // The failures are in the organization's audit log (the access token issued earlier still works).
    const audit = await ok(ctx.owner, `{ auditLog(first: 50) { action actor } }`);
    expect(audit.auditLog.filter((e: { action: string }) => e.action === 'LoginFailed').length).toBeGreaterThanOrEqual(5);
  });
});
