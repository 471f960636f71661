import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userPrincipal } from '@cos/testing';
import { handleIdentityEvent } from '../src/events/reactors/identity';
import { createAgentsReactor } from '../src/events/reactors/agents';
import { foreignEvent, startHarness, type Harness } from './helpers';

let h: Harness;
const orgA = randomUUID();
const orgB = randomUUID();
const owner = randomUUID();
const member = randomUUID();
const viewer = randomUUID();
const outsider = randomUUID(); // member of org B only
const agent = randomUUID();
const customer = randomUUID();
const asOwner = userPrincipal(owner, orgA, 'OWNER');
const asMember = userPrincipal(member, orgA, 'MEMBER');
const asViewer = userPrincipal(viewer, orgA, 'VIEWER');
const asB = userPrincipal(outsider, orgB, 'OWNER');
const agentsReactor = createAgentsReactor({ warn: () => {} });

const TASK_FIELDS = `id title description status priority version dueAt createdAt updatedAt
  assignee { __typename ... on User { id } ... on Agent { id } } customer { id } createdBy { id }
  comments { id body author { id } } approvals { id status }`;
const CREATE = `mutation($input: CreateTaskInput!) { createTask(input: $input) { ${TASK_FIELDS} } }`;
const UPDATE = `mutation($id: ID!, $v: Int!, $input: UpdateTaskInput!) { updateTask(id: $id, expectedVersion: $v, input: $input) { ${TASK_FIELDS} } }`;
const STATUS = `mutation($id: ID!, $v: Int!, $s: TaskStatus!) { changeTaskStatus(id: $id, expectedVersion: $v, status: $s) { id status version } }`;
const ASSIGN = `mutation($id: ID!, $a: ID) { assignTask(id: $id, assigneeId: $a) { id version assignee { __typename ... on User { id } ... on Agent { id } } } }`;
const COMMENT = `mutation($t: ID!, $b: String!) { addComment(taskId: $t, body: $b) { id body author { id } createdAt } }`;
const GET = `query($id: ID!) { task(id: $id) { ${TASK_FIELDS} } }`;
const LIST = `query($f: TaskFilter, $first: Int, $after: String) { tasks(filter: $f, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id title } } } }`;

async function createTask(input: Record<string, unknown>, p = asOwner) {
  const r = await h.exec(p, CREATE, { input });
  expect(r.errors).toBeUndefined();
  return r.data!.createTask;
}

beforeAll(async () => {
  h = await startHarness();
  for (const [org, userId, name, role] of [
    [orgA, owner, 'Olive Owner', 'OWNER'],
    [orgA, member, 'Mo Member', 'MEMBER'],
    [orgA, viewer, 'Vi Viewer', 'VIEWER'],
    [orgB, outsider, 'Bob B', 'OWNER'],
  ] as const) {
    await h.react(handleIdentityEvent, foreignEvent(org, 'Organization', 'MemberJoined', { organizationId: org, userId, name, role }));
  }
  await h.react(agentsReactor, foreignEvent(orgA, 'Agent', 'AgentCreated', { agentId: agent, name: 'Triage', kind: 'TRIAGE' }));
});
afterAll(async () => h?.close());

describe('tasks CRUD', () => {
  it('creates, reads, updates, transitions, assigns and comments', async () => {
    const t = await createTask({ title: '  Ship the release  ', description: 'All of it', priority: 'HIGH', customerId: customer, dueAt: '2030-01-01T10:00:00+02:00' });
    expect(t).toMatchObject({
      title: 'Ship the release',
      description: 'All of it',
      status: 'TODO',
      priority: 'HIGH',
      version: 1,
      dueAt: '2030-01-01T08:00:00.000Z',
      assignee: null,
      customer: { id: customer },
      createdBy: { id: owner },
      comments: [],
      approvals: [],
    });

    const got = await h.exec(asViewer, GET, { id: t.id });
    expect(got.data!.task).toMatchObject({ id: t.id, version: 1 });

    const u = await h.exec(asMember, UPDATE, { id: t.id, v: 1, input: { title: 'Ship v2', description: null, dueAt: null } });
    expect(u.errors).toBeUndefined();
    expect(u.data!.updateTask).toMatchObject({ title: 'Ship v2', description: null, dueAt: null, version: 2, priority: 'HIGH' });

    const s = await h.exec(asMember, STATUS, { id: t.id, v: 2, s: 'IN_PROGRESS' });
    expect(s.data!.changeTaskStatus).toEqual({ id: t.id, status: 'IN_PROGRESS', version: 3 });

    const self = await h.exec(asMember, ASSIGN, { id: t.id, a: member });
    expect(self.data!.assignTask).toMatchObject({ version: 4, assignee: { __typename: 'User', id: member } });
    const toAgent = await h.exec(asMember, ASSIGN, { id: t.id, a: agent });
    expect(toAgent.data!.assignTask).toMatchObject({ version: 5, assignee: { __typename: 'Agent', id: agent } });
    const none = await h.exec(asMember, ASSIGN, { id: t.id, a: null });
    expect(none.data!.assignTask).toMatchObject({ version: 6, assignee: null });

    const c = await h.exec(asMember, COMMENT, { t: t.id, b: 'On it' });
    expect(c.data!.addComment).toMatchObject({ body: 'On it', author: { id: member } });

    const after = await h.exec(asOwner, GET, { id: t.id });
    expect(after.data!.task).toMatchObject({ version: 7, status: 'IN_PROGRESS', comments: [{ body: 'On it', author: { id: member } }] });

    const bad = await h.exec(asMember, STATUS, { id: t.id, v: 7, s: 'AWAITING_APPROVAL' });
    expect(bad.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'status' });
  });

  it('assigning someone outside the org (or unknown) is BAD_USER_INPUT on assigneeId', async () => {
    const t = await createTask({ title: 'Assign me' });
    for (const a of [outsider, randomUUID()]) {
      const r = await h.exec(asOwner, ASSIGN, { id: t.id, a });
      expect(r.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'assigneeId' });
    }
    const r = await h.exec(asOwner, CREATE, { input: { title: 'x', assigneeId: outsider } });
    expect(r.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.assigneeId' });
    expect((await h.exec(asOwner, GET, { id: t.id })).data!.task.version).toBe(1);
  });

  it('lists newest first with keyset pagination, filters and search', async () => {
    const tag = `zebra${Date.now()}`;
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      const t = await createTask({ title: `List ${i} ${tag}`, description: i % 2 ? 'quantum flux' : null, assigneeId: i < 2 ? member : null });
      made.push(t.id);
    }
    const f = { search: tag };
    const p1 = await h.exec(asViewer, LIST, { f, first: 2 });
    expect(p1.data!.tasks.totalCount).toBe(5);
    expect(p1.data!.tasks.edges.map((e: any) => e.node.id)).toEqual([made[4], made[3]]);
    expect(p1.data!.tasks.pageInfo.hasNextPage).toBe(true);
    const p2 = await h.exec(asViewer, LIST, { f, first: 2, after: p1.data!.tasks.pageInfo.endCursor });
    expect(p2.data!.tasks.edges.map((e: any) => e.node.id)).toEqual([made[2], made[1]]);
    const p3 = await h.exec(asViewer, LIST, { f, first: 2, after: p2.data!.tasks.pageInfo.endCursor });
    expect(p3.data!.tasks.edges.map((e: any) => e.node.id)).toEqual([made[0]]);
    expect(p3.data!.tasks.pageInfo.hasNextPage).toBe(false);

    const flux = await h.exec(asViewer, LIST, { f: { search: `${tag} quantum` } });
    expect(flux.data!.tasks.totalCount).toBe(2);
    const mine = await h.exec(asViewer, LIST, { f: { search: tag, assigneeId: member } });
    expect(mine.data!.tasks.edges.map((e: any) => e.node.id).sort()).toEqual([made[0], made[1]].sort());
    const todo = await h.exec(asViewer, LIST, { f: { search: tag, status: ['DONE', 'CANCELLED'] } });
    expect(todo.data!.tasks.totalCount).toBe(0);

    // User.tasks through an entity reference
    const ent = await h.exec(asViewer, `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { tasks(first: 1) { totalCount edges { node { id } } pageInfo { hasNextPage } } } } }`, {
      r: [{ __typename: 'User', id: member }],
    });
    expect(ent.errors).toBeUndefined();
    expect(ent.data!._entities[0].tasks).toMatchObject({ totalCount: 2, edges: [{ node: { id: made[1] } }], pageInfo: { hasNextPage: true } });
  });

  it('search strings are data, never SQL or tsquery syntax errors', async () => {
    for (const search of ["'; DROP TABLE tasks; --", '!!! & | :* (( "unterminated', '\\', '%_', 'or -', '日本語']) {
      const r = await h.exec(asViewer, LIST, { f: { search } });
      expect(r.errors).toBeUndefined();
      expect(typeof r.data!.tasks.totalCount).toBe('number');
    }
    const r = await h.exec(asViewer, LIST, { f: {} });
    expect(r.data!.tasks.totalCount).toBeGreaterThan(0);
  });
});

describe('errors write nothing', () => {
  it('a stale expectedVersion is CONFLICT with currentVersion', async () => {
    const t = await createTask({ title: 'Versioned' });
    await h.exec(asOwner, UPDATE, { id: t.id, v: 1, input: { priority: 'LOW' } });
    const before = await h.eventCount();
    const r = await h.exec(asOwner, UPDATE, { id: t.id, v: 1, input: { title: 'Lost update' } });
    expect(r.errors![0]!.extensions).toMatchObject({ code: 'CONFLICT', currentVersion: 2 });
    const s = await h.exec(asOwner, STATUS, { id: t.id, v: 5, s: 'DONE' });
    expect(s.errors![0]!.extensions).toMatchObject({ code: 'CONFLICT', currentVersion: 2 });
    expect(await h.eventCount()).toBe(before);
    expect((await h.exec(asOwner, GET, { id: t.id })).data!.task).toMatchObject({ title: 'Versioned', status: 'TODO', version: 2 });
  });

  it('concurrent updates on one version: exactly one wins, the other is CONFLICT', async () => {
    const t = await createTask({ title: 'Race' });
    const rs = await Promise.all([1, 2, 3].map((i) => h.exec(asOwner, UPDATE, { id: t.id, v: 1, input: { title: `Race ${i}` } })));
    expect(rs.filter((r) => !r.errors)).toHaveLength(1);
    for (const r of rs.filter((r) => r.errors)) expect(r.errors![0]!.extensions).toMatchObject({ code: 'CONFLICT', currentVersion: 2 });
  });

  it('bad input is BAD_USER_INPUT naming the field', async () => {
    const t = await createTask({ title: 'Target' });
    const before = await h.eventCount();
    const cases: Array<[string, Record<string, unknown>, string]> = [
      [CREATE, { input: { title: '' } }, 'input.title'],
      [CREATE, { input: { title: '   ' } }, 'input.title'],
      [CREATE, { input: { title: 't'.repeat(201) } }, 'input.title'],
      [CREATE, { input: { title: 'ok', description: 'd'.repeat(10_001) } }, 'input.description'],
      [CREATE, { input: { title: 'ok', dueAt: 'next tuesday' } }, 'input.dueAt'],
      [CREATE, { input: { title: 'ok', customerId: 'not-a-uuid' } }, 'input.customerId'],
      [UPDATE, { id: t.id, v: 1, input: {} }, 'input'],
      [UPDATE, { id: t.id, v: 1, input: { title: ' ' } }, 'input.title'],
      [UPDATE, { id: 'nope', v: 1, input: { title: 'x' } }, 'id'],
      [UPDATE, { id: t.id, v: -1, input: { title: 'x' } }, 'expectedVersion'],
      [ASSIGN, { id: t.id, a: 'nope' }, 'assigneeId'],
      [COMMENT, { t: t.id, b: '' }, 'body'],
      [COMMENT, { t: t.id, b: 'c'.repeat(10_001) }, 'body'],
      [COMMENT, { t: '1; select 1', b: 'x' }, 'taskId'],
      [GET, { id: "' or 1=1 --" }, 'id'],
      [LIST, { first: 101 }, 'first'],
      [LIST, { after: 'garbage' }, 'after'],
      [LIST, { f: { assigneeId: 'x' } }, 'filter.assigneeId'],
      [`mutation { decideApproval(id: "x", approve: true) { id } }`, {}, 'id'],
    ];
    for (const [q, vars, field] of cases) {
      const r = await h.exec(asOwner, q, vars);
      expect(r.errors?.[0]?.extensions, `${field} ${JSON.stringify(vars).slice(0, 80)}`).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    // A bad enum is refused by GraphQL validation before any resolver runs (the gateway does the same for variables).
    const e = await h.exec(asOwner, `mutation($id: ID!) { changeTaskStatus(id: $id, expectedVersion: 1, status: FINISHED) { id } }`, { id: t.id });
    expect(e.errors?.[0]?.message).toMatch(/TaskStatus/);
    expect(e.data ?? null).toBeNull();
    expect(await h.eventCount()).toBe(before);
  });

  it('unknown task ids are NOT_FOUND for writes and null for reads', async () => {
    const id = randomUUID();
    expect((await h.exec(asOwner, GET, { id })).data!.task).toBeNull();
    const r = await h.exec(asOwner, UPDATE, { id, v: 1, input: { title: 'x' } });
    expect(r.errors![0]!.extensions!.code).toBe('NOT_FOUND');
  });
});

describe('authorization and tenancy', () => {
  it('VIEWER can read but every mutation is FORBIDDEN', async () => {
    const t = await createTask({ title: 'Viewer target' });
    const before = await h.eventCount();
    for (const [q, vars] of [
      [CREATE, { input: { title: 'nope' } }],
      [UPDATE, { id: t.id, v: 1, input: { title: 'nope' } }],
      [STATUS, { id: t.id, v: 1, s: 'DONE' }],
      [ASSIGN, { id: t.id, a: viewer }],
      [COMMENT, { t: t.id, b: 'nope' }],
      [`mutation($id: ID!) { decideApproval(id: $id, approve: true) { id } }`, { id: randomUUID() }],
    ] as const) {
      const r = await h.exec(asViewer, q, vars);
      expect(r.errors![0]!.extensions!.code).toBe('FORBIDDEN');
    }
    expect(await h.eventCount()).toBe(before);
    expect((await h.exec(asViewer, GET, { id: t.id })).data!.task.id).toBe(t.id);
  });

  it('anonymous callers are UNAUTHENTICATED', async () => {
    const r = await h.exec({ kind: 'anonymous' }, LIST, {});
    expect(r.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
  });

  it('unsigned requests are refused with 401', async () => {
    const res = await h.server.yoga.fetch('http://subgraph/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ tasks { totalCount } }' }),
    });
    expect(res.status).toBe(401);
  });

  it('org B cannot read or write org A', async () => {
    const t = await createTask({ title: 'Secret plan xylophone', customerId: customer, assigneeId: member });
    expect((await h.exec(asB, GET, { id: t.id })).data!.task).toBeNull();
    const list = await h.exec(asB, LIST, { f: { search: 'xylophone' } });
    expect(list.data!.tasks.totalCount).toBe(0);
    const all = await h.exec(asB, LIST, {});
    expect(all.data!.tasks.edges.map((e: any) => e.node.id)).not.toContain(t.id);
    const ent = await h.exec(asB, `query($r: [_Any!]!) { _entities(representations: $r) { ... on Task { id } ... on Customer { tasks { totalCount } } ... on User { tasks { totalCount } } } }`, {
      r: [{ __typename: 'Task', id: t.id }, { __typename: 'Customer', id: customer }, { __typename: 'User', id: member }],
    });
    expect(ent.data!._entities).toEqual([null, { tasks: { totalCount: 0 } }, { tasks: { totalCount: 0 } }]);
    const before = await h.eventCount();
    for (const [q, vars] of [
      [UPDATE, { id: t.id, v: 1, input: { title: 'pwned' } }],
      [STATUS, { id: t.id, v: 1, s: 'CANCELLED' }],
      [ASSIGN, { id: t.id, a: outsider }],
      [COMMENT, { t: t.id, b: 'pwned' }],
    ] as const) {
      const r = await h.exec(asB, q, vars);
      expect(r.errors![0]!.extensions!.code).toBe('NOT_FOUND');
    }
    expect(await h.eventCount()).toBe(before);
    expect((await h.exec(asOwner, GET, { id: t.id })).data!.task).toMatchObject({ title: 'Secret plan xylophone', version: 1 });
  });

  it('row-level security holds even without the org filter in SQL', async () => {
    await createTask({ title: 'RLS probe' });
    const seenByB = await h.db.tx({ orgId: orgB }, (tx) => tx.query('SELECT id FROM tasks WHERE title = $1', ['RLS probe']));
    expect(seenByB).toEqual([]);
    const noTenant = await h.db.tx({ orgId: null }, (tx) => tx.query('SELECT id FROM tasks'));
    expect(noTenant).toEqual([]);
    await expect(
      h.db.tx({ orgId: orgB }, (tx) => tx.query(`UPDATE tasks SET title = 'x' WHERE title = 'RLS probe' RETURNING id`)),
    ).resolves.toEqual([]);
  });
});

describe('batching', () => {
  async function seedPage(n: number) {
    const org = randomUUID();
    const user = randomUUID();
    const p = userPrincipal(user, org, 'OWNER');
    const ag = randomUUID();
    await h.react(agentsReactor, foreignEvent(org, 'Agent', 'AgentCreated', { agentId: ag, name: 'Ops', kind: 'OPERATIONS' }));
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const t = await createTask({ title: `Batch ${i}`, customerId: randomUUID(), assigneeId: i % 2 ? ag : user }, p);
      await h.exec(p, COMMENT, { t: t.id, b: `c${i}` });
      await h.react(
        agentsReactor,
        foreignEvent(org, 'AgentRun', 'AgentRunApprovalRequested', { runId: randomUUID(), agentId: ag, taskId: t.id, action: 'do', payload: { i } }),
      );
      ids.push(t.id);
    }
    return { p, ids, user, ag };
  }

  async function countStatements(fn: () => Promise<unknown>) {
    let n = 0;
    const names: string[] = [];
    const off = h.db.onQuery((e) => {
      n++;
      names.push(e.sql.replace(/\s+/g, ' ').slice(0, 40));
    });
    try {
      await fn();
    } finally {
      off();
    }
    if (process.env.DEBUG_SQL) console.log(names.join(' '));
    return n;
  }

  it('a page with assignee, customer, comments, approvals and _entities costs the same statements for 5 and 50 tasks', async () => {
    const PAGE = `query($n: Int!, $r: [_Any!]!, $u: [_Any!]!) {
      tasks(first: $n) { totalCount edges { node { id assignee { __typename ... on User { id } ... on Agent { id } }
        customer { id } createdBy { id } comments { id body author { id } } approvals { id status requestedBy { id } task { id } } } } }
      _entities(representations: $r) { ... on Task { id title comments { id } approvals { id } } ... on Approval { id task { id title } } }
      parents: _entities(representations: $u) { ... on User { tasks(first: 100) { totalCount edges { node { id } } } }
        ... on Agent { tasks(first: 100) { totalCount edges { node { id approvals { id } } } } } }
    }`;
    const counts: number[] = [];
    for (const n of [5, 50]) {
      const { p, ids, user, ag } = await seedPage(n);
      const approvals = (await h.exec(p, '{ pendingApprovals { id } }')).data!.pendingApprovals.map((a: any) => a.id);
      expect(approvals).toHaveLength(n);
      const vars = {
        n,
        r: [...ids.map((id) => ({ __typename: 'Task', id })), ...approvals.map((id: string) => ({ __typename: 'Approval', id }))],
        u: [{ __typename: 'User', id: user }, { __typename: 'Agent', id: ag }],
      };
      let res: any;
      counts.push(await countStatements(async () => (res = await h.exec(p, PAGE, vars))));
      expect(res.errors).toBeUndefined();
      expect(res.data.tasks.edges).toHaveLength(n);
      expect(res.data.tasks.edges[0].node.comments).toHaveLength(1);
      expect(res.data.tasks.edges[0].node.approvals[0]).toMatchObject({ status: 'PENDING', requestedBy: { id: ag } });
      expect(res.data._entities).toHaveLength(2 * n);
      expect(res.data._entities[n].task.title).toMatch(/^Batch /);
      expect(res.data.parents[0].tasks.totalCount + res.data.parents[1].tasks.totalCount).toBe(n);
    }
    // One statement per loader/list: tasks page + count, task-by-id, comments, approvals-by-task, approval-by-id,
    // User.tasks, Agent.tasks = 8. A loader whose keys arrive in two event-loop turns (which list resolves first is a
    // race) may run twice, hence the slack; one query per row would cost 50+.
    const BOUND = 10;
    expect(counts[0]).toBeLessThanOrEqual(BOUND);
    expect(counts[1]).toBeLessThanOrEqual(BOUND);
  });
});
