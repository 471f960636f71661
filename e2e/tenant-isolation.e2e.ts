/**
 * Tenant isolation, end to end: two organizations A and B (two sign-ups) on the whole stack. A test matrix proves
 * that A can neither read nor write B's data through any path: every Query field with B's ids, list queries,
 * filters, search, every mutation with B's ids (then B checks nothing changed), and entity references
 * (`_entities` with B's ids, sent straight to each subgraph with a correctly signed principal of A).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scopesForRole, signPrincipal, type Principal } from '@cos/auth';
import { parseSearchArgs, searchKey } from '@cos/service-kit';
import { eventually, gql, gqlOk, type GraphQLResponse } from '../scripts/lib/graphql-client';
import { startTestStack, type TestStack } from './support/test-stack';

const internalSecret = randomBytes(32).toString('hex');
let t: TestStack;

interface Org {
  /** A word only this org's task title, task description and customer name contain. */
  marker: string;
  token: string;
  userId: string;
  orgId: string;
  email: string;
  taskId: string;
  taskTitle: string;
  customerId: string;
  customerName: string;
  agentId: string;
  supportTaskId: string;
  runId: string;
  approvalId: string;
  apiKeyId: string;
}
let A: Org;
let B: Org;

const as = <T = Record<string, any>>(o: Org, query: string, variables: Record<string, unknown> = {}) =>
  gql<T>(t.gatewayUrl, query, variables, { token: o.token });
const ok = <T = Record<string, any>>(o: Org, query: string, variables: Record<string, unknown> = {}) =>
  gqlOk<T>(t.gatewayUrl, query, variables, { token: o.token });

async function setUpOrg(tag: string): Promise<Org> {
  const marker = `${tag}${randomBytes(4).toString('hex')}`;
  const email = `${marker}@isolation.test`;
  const s = await gqlOk(t.gatewayUrl, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id } organization { id } } }`, {
    i: { email, password: 'isolation-pass-42', name: `Person ${marker}`, organizationName: `Org ${marker}` },
  });
  const o = { marker, token: s.signUp.accessToken, userId: s.signUp.user.id, orgId: s.signUp.organization.id, email } as Org;
  o.customerName = `Customer ${marker}`;
  o.customerId = (await ok(o, `mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }`, { i: { name: o.customerName, mrr: 1234 } }))
    .createCustomer.id;
  await ok(o, `mutation($c: ID!) { recordSignal(customerId: $c, input: { kind: NPS, value: 8 }) { score } }`, { c: o.customerId });
  o.taskTitle = `Zanzibar ${marker} renewal`;
  o.taskId = (
    await ok(o, `mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }`, {
      i: { title: o.taskTitle, customerId: o.customerId, assigneeId: o.userId, description: `secret ${marker}` },
    })
  ).createTask.id;
  await ok(o, `mutation($t: ID!) { addComment(taskId: $t, body: "private note") { id } }`, { t: o.taskId });
  // The organization's specialists are created by a reaction to OrganizationCreated.
  const agents = await eventually(async () => {
    const r = await ok(o, `{ agents { id kind } }`);
    return r.agents.length >= 7 && r.agents;
  }, 20_000);
  o.agentId = agents.find((a: { kind: string }) => a.kind === 'SUPPORT').id;
  // A SUPPORT run (worked by the organization's own worker, through the graph) asks for approval before sending:
  // that gives an Approval (tasks) and a waiting AgentRun.
  await t.startWorker({ adminToken: o.token, name: `worker-${tag}`, kinds: ['SUPPORT'] });
  const supportTask = (await ok(o, `mutation { createTask(input: { title: "Reply to the ticket" }) { id } }`)).createTask.id;
  o.supportTaskId = supportTask;
  // agents learns about tasks from their events: retry until it knows this one.
  o.runId = await eventually(async () => {
    const r = await as(o, `mutation($t: ID!, $a: ID!) { startAgentRun(taskId: $t, agentId: $a) { id } }`, { t: supportTask, a: o.agentId });
    return r.data?.startAgentRun?.id as string | undefined;
  }, 20_000);
  o.approvalId = await eventually(async () => {
    const r = await ok(o, `{ pendingApprovals { id task { id } } }`);
    return r.pendingApprovals.find((p: { task: { id: string } }) => p.task.id === supportTask)?.id;
  }, 30_000);
  const key = await ok(o, `mutation { createApiKey(name: "isolation-reader", scopes: ["tasks:read"]) { apiKey { id } secret } }`);
  o.apiKeyId = key.createApiKey.apiKey.id;
  return o;
}

/** What B owns that must never show up in any answer to A. */
const secretsOf = (o: Org) => [o.taskId, o.taskTitle, o.customerId, o.customerName, o.runId, o.approvalId, o.apiKeyId, o.email, o.orgId, o.agentId];

/** `sent`: what the request itself carried (an error may echo the id it was asked about; that reveals nothing). */
function expectNoLeak(r: GraphQLResponse, sent: unknown = {}, owner: Org = B) {
  const body = JSON.stringify({ data: r.data, errors: r.errors });
  const asked = JSON.stringify(sent);
  for (const s of secretsOf(owner)) if (!asked.includes(s)) expect(body, `leaked ${s}`).not.toContain(s);
  for (const e of r.errors ?? []) {
    expect(e.message).not.toMatch(/select|insert|update .* set|delete from|relation|syntax|postgres|at .*\.ts/i);
  }
}

const codes = (r: GraphQLResponse) => (r.errors ?? []).map((e) => e.extensions?.code);

beforeAll(async () => {
  t = await startTestStack({ internalSecret });
  try {
    [A, B] = await Promise.all([setUpOrg('a'), setUpOrg('b')]);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${t.logs()}`, { cause: err });
  }
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

describe('reads: every Query field with B’s ids answers null, and B’s rows appear in no list, filter or search', () => {
  const byId: [string, string, (o: Org) => string][] = [
    ['task', `query($id: ID!) { task(id: $id) { id title description } }`, (o) => o.taskId],
    ['customer', `query($id: ID!) { customer(id: $id) { id name mrr } }`, (o) => o.customerId],
    ['agentRun', `query($id: ID!) { agentRun(id: $id) { id status } }`, (o) => o.runId],
    ['agent', `query($id: ID!) { agent(id: $id) { id name } }`, (o) => o.agentId],
    ['organization', `query($id: ID!) { organization(id: $id) { id name members { user { id } } } }`, (o) => o.orgId],
    ['user', `query($id: ID!) { user(id: $id) { id name email } }`, (o) => o.userId],
  ];
  for (const [field, query, idOf] of byId) {
    it(`${field}(id: B's) → null`, async () => {
      // Sanity: B reads its own.
      const own = await as(B, query, { id: idOf(B) });
      expect(own.errors, JSON.stringify(own.errors)).toBeUndefined();
      expect(own.data![field]).not.toBeNull();
      const r = await as(A, query, { id: idOf(B) });
      expect(r.data?.[field] ?? null).toBeNull();
      expect(codes(r).every((c) => c === 'NOT_FOUND' || c === 'FORBIDDEN')).toBe(true);
      expectNoLeak(r, { id: idOf(B) });
    });
  }

  it('list queries hold only A’s rows', async () => {
    const lists: [string, (d: any) => string[], string][] = [
      [`{ tasks(first: 50) { edges { node { id title customer { id name } } } } }`, (d) => d.tasks.edges.map((e: any) => e.node.id), 'taskId'],
      [`{ customers(first: 100) { edges { node { id name } } } }`, (d) => d.customers.edges.map((e: any) => e.node.id), 'customerId'],
      [`{ agents { id runs(first: 20) { id } } }`, (d) => d.agents.map((a: any) => a.id), 'agentId'],
      [`{ pendingApprovals { id } }`, (d) => d.pendingApprovals.map((p: any) => p.id), 'approvalId'],
      [`{ me { memberships { organization { id members { user { id email } } } } } }`, (d) => d.me.memberships.map((m: any) => m.organization.id), 'orgId'],
      [`{ auditLog(first: 200) { id actor target } }`, (d) => d.auditLog.map((e: any) => e.actor), 'userId'],
    ];
    for (const [query, ids, own] of lists) {
      const r = await as(A, query);
      expect(r.errors, `${query}: ${JSON.stringify(r.errors)}`).toBeUndefined();
      const got = ids(r.data).join(' ');
      expect(got, query).toContain(A[own as keyof Org]);
      expectNoLeak(r);
    }
  });

  it('filters with B’s ids and a search for B’s title find nothing', async () => {
    const q = `query($f: TaskFilter) { tasks(filter: $f, first: 50) { totalCount edges { node { id title } } } }`;
    for (const f of [{ customerId: B.customerId }, { assigneeId: B.userId }, { assigneeId: B.agentId }, { search: B.taskTitle }, { search: B.taskTitle.split(' ')[1] }]) {
      const r = await as(A, q, { f });
      expect(r.data?.tasks?.totalCount ?? 0, JSON.stringify(f)).toBe(0);
      expectNoLeak(r, f);
    }
    // The same filters find B's own task for B (the filters work).
    const own = await as(B, q, { f: { search: B.taskTitle.split(' ')[1] } });
    expect(own.data!.tasks.edges.map((e: any) => e.node.id)).toContain(B.taskId);
  });

  const SEARCH = `query($q: String!, $first: Int, $after: String) { search(query: $q, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { type id rank title highlight task { id title } customer { id name } } } } }`;

  it('search: one list merged by rank from tasks and customers, only the caller’s organization', async () => {
    // A's marker is in A's task (title + description) and A's customer name: one hit from each subgraph.
    const own = await ok(A, SEARCH, { q: A.marker });
    expect(own.search.totalCount).toBe(2);
    const nodes = own.search.edges.map((e: any) => e.node);
    expect(nodes.map((n: any) => n.type).sort()).toEqual(['CUSTOMER', 'TASK']);
    expect(nodes.find((n: any) => n.type === 'TASK')).toMatchObject({ id: A.taskId, task: { id: A.taskId, title: A.taskTitle }, customer: { id: A.customerId, name: A.customerName } });
    expect(nodes.find((n: any) => n.type === 'CUSTOMER')).toMatchObject({ id: A.customerId, title: A.customerName, customer: { name: A.customerName } });
    expect(nodes[0].rank).toBeGreaterThanOrEqual(nodes[1].rank);
    for (const n of nodes) expect(n.highlight).toContain(`<mark>${A.marker}</mark>`);
    // Paged one at a time across the two subgraphs: the same two, in the same order, no overlap.
    const p1 = await ok(A, SEARCH, { q: A.marker, first: 1 });
    expect(p1.search.pageInfo.hasNextPage).toBe(true);
    const p2 = await ok(A, SEARCH, { q: A.marker, first: 1, after: p1.search.pageInfo.endCursor });
    expect(p2.search.pageInfo.hasNextPage).toBe(false);
    expect([p1.search.edges[0].node.id, p2.search.edges[0].node.id]).toEqual(nodes.map((n: any) => n.id));
    // B's marker, B's title words and B's customer name find nothing for A; the same searches work for B.
    for (const q of [B.marker, B.taskTitle, B.customerName, `${B.marker} OR ${A.marker}`]) {
      const r = await as(A, SEARCH, { q, first: 50 });
      expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
      expectNoLeak(r, { q });
      for (const e of r.data!.search.edges) expect([A.taskId, A.customerId]).toContain(e.node.id);
    }
    expect((await ok(B, SEARCH, { q: B.marker })).search.totalCount).toBe(2);
  });

  it('search: bad input is BAD_USER_INPUT through the gateway, with no SQL in the message', async () => {
    for (const q of ['', '   ', 'x'.repeat(201)]) {
      const r = await as(A, SEARCH, { q });
      expect(codes(r)).toEqual(['BAD_USER_INPUT']);
      expect(r.errors![0]!.extensions?.field).toBe('query');
      expectNoLeak(r);
    }
    const bad = await as(A, SEARCH, { q: A.marker, after: 'garbage' });
    expect(codes(bad)).toEqual(['BAD_USER_INPUT']);
  });

  it('a task of A that points at B’s customer does not reveal it', async () => {
    const created = await as(A, `mutation($i: CreateTaskInput!) { createTask(input: $i) { id customer { id name } } }`, {
      i: { title: 'Cross-tenant reference', customerId: B.customerId },
    });
    // Either refused, or stored as a dangling reference that resolves to nothing.
    if (!created.errors) expect(created.data!.createTask.customer).toBeNull();
    expectNoLeak(created, B.customerId);
  });
});

describe('writes: every mutation with B’s ids is refused and B’s data is unchanged', () => {
  let before: Record<string, any>;
  const snapshotB = () =>
    ok(
      B,
      `query($t: ID!, $c: ID!, $r: ID!, $o: ID!) {
         task(id: $t) { version title status priority assignee { __typename ... on User { id } } comments { id } approvals { id status } }
         customer(id: $c) { name healthHistory(last: 50) { score } }
         agentRun(id: $r) { status }
         organization(id: $o) { members { role user { id } } } }`,
      { t: B.taskId, c: B.customerId, r: B.runId, o: B.orgId },
    );

  beforeAll(async () => {
    before = await snapshotB();
  });

  const attempts: [string, string, () => Record<string, unknown>][] = [
    ['updateTask', `mutation($id: ID!) { updateTask(id: $id, expectedVersion: 1, input: { title: "pwned" }) { id title } }`, () => ({ id: B.taskId })],
    ['updateTask (any version)', `mutation($id: ID!, $v: Int!) { updateTask(id: $id, expectedVersion: $v, input: { title: "pwned" }) { id } }`, () => ({ id: B.taskId, v: before.task.version })],
    ['changeTaskStatus', `mutation($id: ID!, $v: Int!) { changeTaskStatus(id: $id, expectedVersion: $v, status: DONE) { id status } }`, () => ({ id: B.taskId, v: before.task.version })],
    ['assignTask (B’s task)', `mutation($id: ID!, $a: ID!) { assignTask(id: $id, assigneeId: $a) { id } }`, () => ({ id: B.taskId, a: A.userId })],
    ['assignTask (unassign B’s task)', `mutation($id: ID!) { assignTask(id: $id, assigneeId: null) { id } }`, () => ({ id: B.taskId })],
    ['assignTask (A’s task to B’s user)', `mutation($id: ID!, $a: ID!) { assignTask(id: $id, assigneeId: $a) { id assignee { __typename } } }`, () => ({ id: A.taskId, a: B.userId })],
    ['assignTask (A’s task to B’s agent)', `mutation($id: ID!, $a: ID!) { assignTask(id: $id, assigneeId: $a) { id assignee { __typename } } }`, () => ({ id: A.taskId, a: B.agentId })],
    ['addComment', `mutation($id: ID!) { addComment(taskId: $id, body: "pwned") { id } }`, () => ({ id: B.taskId })],
    ['decideApproval', `mutation($id: ID!) { decideApproval(id: $id, approve: true) { id status } }`, () => ({ id: B.approvalId })],
    ['recordSignal', `mutation($id: ID!) { recordSignal(customerId: $id, input: { kind: NPS, value: 0 }) { score } }`, () => ({ id: B.customerId })],
    ['startAgentRun (B’s task)', `mutation($t: ID!, $a: ID!) { startAgentRun(taskId: $t, agentId: $a) { id } }`, () => ({ t: B.taskId, a: A.agentId })],
    ['startAgentRun (B’s agent)', `mutation($t: ID!, $a: ID!) { startAgentRun(taskId: $t, agentId: $a) { id } }`, () => ({ t: A.taskId, a: B.agentId })],
    ['cancelAgentRun', `mutation($id: ID!) { cancelAgentRun(id: $id) { id status } }`, () => ({ id: B.runId })],
    ['changeRole', `mutation($id: ID!) { changeRole(userId: $id, role: VIEWER) { role } }`, () => ({ id: B.userId })],
    ['revokeApiKey', `mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`, () => ({ id: B.apiKeyId })],
  ];
  for (const [name, mutation, vars] of attempts) {
    it(`${name} → NOT_FOUND/FORBIDDEN/BAD_USER_INPUT`, async () => {
      const r = await as(A, mutation, vars());
      expect(r.errors?.length, JSON.stringify(r.data)).toBeGreaterThan(0);
      for (const c of codes(r)) expect(['NOT_FOUND', 'FORBIDDEN', 'BAD_USER_INPUT']).toContain(c);
      expectNoLeak(r, vars());
    });
  }

  it('B afterwards: task, comments, approval, customer health, run, roles unchanged; B’s API key still works', async () => {
    // Give any (wrongly) emitted event time to be projected before comparing.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await snapshotB()).toEqual(before);
    // B's API key was not revoked (partner keys only run registered operations, so look at the row itself).
    const pool = new pg.Pool({ connectionString: t.db.adminUrl, max: 1 });
    try {
      const { rows } = await pool.query(`SELECT revoked_at FROM identity.api_keys WHERE id = $1`, [B.apiKeyId]);
      expect(rows).toEqual([{ revoked_at: null }]);
    } finally {
      await pool.end();
    }
    // A's own task was not assigned to B's user or agent.
    const mine = await ok(A, `query($id: ID!) { task(id: $id) { assignee { __typename ... on User { id } ... on Agent { id } } } }`, { id: A.taskId });
    expect(mine.task.assignee?.id).toBe(A.userId);
  });
});

describe('entity references: _entities with B’s ids, signed with A’s principal, straight to each subgraph → null', () => {
  const principalOf = (o: Org): Principal => ({ kind: 'user', userId: o.userId, orgId: o.orgId, role: 'OWNER', scopes: scopesForRole('OWNER') });
  const entities = async (o: Org, service: 'identity' | 'tasks' | 'customers' | 'agents', reps: unknown[], selection: string) => {
    const res = await fetch(t.stack.serviceUrl(service), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signPrincipal(principalOf(o), internalSecret) },
      body: JSON.stringify({ query: `query($r: [_Any!]!) { _entities(representations: $r) { __typename ${selection} } }`, variables: { r: reps } }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as GraphQLResponse<{ _entities: (Record<string, any> | null)[] }>;
  };

  const cases: [string, 'identity' | 'tasks' | 'customers' | 'agents', (o: Org) => unknown, string, (e: Record<string, any>) => boolean][] = [
    ['Task (tasks)', 'tasks', (o) => ({ __typename: 'Task', id: o.taskId }), '... on Task { id title }', (e) => !!e.title],
    ['Task (agents: agentRuns)', 'agents', (o) => ({ __typename: 'Task', id: o.supportTaskId }), '... on Task { id agentRuns { id } }', (e) => e.agentRuns.length > 0],
    ['Approval (tasks)', 'tasks', (o) => ({ __typename: 'Approval', id: o.approvalId }), '... on Approval { id action }', (e) => !!e.action],
    ['Customer (customers)', 'customers', (o) => ({ __typename: 'Customer', id: o.customerId }), '... on Customer { id name }', (e) => !!e.name],
    ['Customer (tasks: tasks)', 'tasks', (o) => ({ __typename: 'Customer', id: o.customerId }), '... on Customer { id tasks { edges { node { id } } } }', (e) => e.tasks.edges.some((x: any) => x.node.id === B.taskId)],
    ['AgentRun (agents)', 'agents', (o) => ({ __typename: 'AgentRun', id: o.runId }), '... on AgentRun { id status }', (e) => !!e.status],
    ['Agent (agents)', 'agents', (o) => ({ __typename: 'Agent', id: o.agentId }), '... on Agent { id name }', (e) => !!e.name],
    ['User (identity)', 'identity', (o) => ({ __typename: 'User', id: o.userId }), '... on User { id name email }', (e) => !!e.name],
    ['Organization (identity)', 'identity', (o) => ({ __typename: 'Organization', id: o.orgId }), '... on Organization { id name }', (e) => !!e.name],
    // A search key names the search, never the org: answered with A's principal it searches A's rows.
    ['SearchResults (tasks)', 'tasks', (o) => ({ __typename: 'SearchResults', id: searchKey(parseSearchArgs({ query: o.marker })), customerMatches: { totalCount: 0, matches: [] } }), '... on SearchResults { totalCount edges { node { id title } } }', (e) => e.totalCount > 0],
    ['SearchResults (customers)', 'customers', (o) => ({ __typename: 'SearchResults', id: searchKey(parseSearchArgs({ query: o.marker })) }), '... on SearchResults { customerMatches { totalCount matches { id title } } }', (e) => e.customerMatches.totalCount > 0],
  ];
  for (const [name, service, rep, selection, populated] of cases) {
    it(name, async () => {
      const own = await entities(B, service, [rep(B)], selection);
      expect(own.errors, JSON.stringify(own.errors)).toBeUndefined();
      expect(populated(own.data!._entities[0]!)).toBe(true);
      const r = await entities(A, service, [rep(B)], selection);
      const e = r.data?._entities?.[0] ?? null;
      // Null, or (for a type another subgraph owns) an empty stub: nothing of B's.
      if (e) expect(populated(e)).toBe(false);
      expectNoLeak(r, rep(B));
    });
  }

  it('a random id and a well-formed id of another type answer null too (no oracle)', async () => {
    const r = await entities(A, 'tasks', [{ __typename: 'Task', id: randomUUID() }, { __typename: 'Task', id: B.customerId }], '... on Task { id title }');
    expect(r.data?._entities ?? [null, null]).toEqual([null, null]);
  });
});
