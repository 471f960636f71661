import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userPrincipal } from '@cos/testing';
import { handleIdentityEvent } from '../src/events/reactors/identity';
import { createAgentsReactor } from '../src/events/reactors/agents';
import { handleCustomersEvent } from '../src/events/reactors/customers';
import { foreignEvent, startHarness, type Harness } from './helpers';

let h: Harness;
const agentsReactor = createAgentsReactor({ warn: () => {} });

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => h?.close());

const GET = `query($id: ID!) { task(id: $id) { id status version priority title customer { id } createdBy { id }
  assignee { __typename ... on User { id } ... on Agent { id } } approvals { id status action payload reason decidedBy { id } decidedAt requestedBy { id } } } }`;
const DECIDE = `mutation($id: ID!, $ok: Boolean!, $reason: String) { decideApproval(id: $id, approve: $ok, reason: $reason) {
  id status reason decidedBy { id } decidedAt task { id status } } }`;

async function newOrg() {
  const org = randomUUID();
  const owner = randomUUID();
  await h.react(handleIdentityEvent, foreignEvent(org, 'Organization', 'MemberJoined', { organizationId: org, userId: owner, name: 'Owner', role: 'OWNER' }));
  return { org, owner, p: userPrincipal(owner, org, 'OWNER') };
}

async function taskEvents(taskId: string) {
  return h.systemDb.withClient((tx) =>
    tx.query<{ type: string; data: any; metadata: any; version: number }>(
      'SELECT type, data, metadata, version FROM events WHERE stream_id = $1 ORDER BY version',
      [`Task-${taskId}`],
    ),
  );
}

describe('identity reactor (reaction 1)', () => {
  it('MemberRemoved deactivates the member and unassigns their open tasks, once', async () => {
    const { org, p } = await newOrg();
    const leaver = randomUUID();
    const joined = foreignEvent(org, 'Organization', 'MemberJoined', { organizationId: org, userId: leaver, name: 'Lee', role: 'MEMBER' });
    await h.react(handleIdentityEvent, joined);
    await h.react(handleIdentityEvent, joined); // redelivery: still one member
    const mk = async (title: string) => {
      const r = await h.exec(p, `mutation($i: CreateTaskInput!) { createTask(input: $i) { id version } }`, { input: undefined, i: { title, assigneeId: leaver } });
      expect(r.errors).toBeUndefined();
      return r.data!.createTask.id as string;
    };
    const open1 = await mk('open one');
    const open2 = await mk('open two');
    const done = await mk('done one');
    await h.exec(p, `mutation($id: ID!) { changeTaskStatus(id: $id, expectedVersion: 1, status: DONE) { id } }`, { id: done });

    const removed = foreignEvent(org, 'Organization', 'MemberRemoved', { organizationId: org, userId: leaver });
    await h.react(handleIdentityEvent, removed);
    for (const id of [open1, open2]) {
      const t = (await h.exec(p, GET, { id })).data!.task;
      expect(t.assignee).toBeNull();
      const last = (await taskEvents(id)).at(-1)!;
      expect(last).toMatchObject({ type: 'TaskAssigned', data: { assignee: null, previous: { id: leaver, kind: 'User' } } });
      expect(last.metadata).toMatchObject({ actor: 'service:tasks', causationId: removed.id, correlationId: removed.metadata.correlationId });
    }
    expect((await h.exec(p, GET, { id: done })).data!.task.assignee).toMatchObject({ id: leaver });

    const before = (await taskEvents(open1)).length;
    await h.react(handleIdentityEvent, removed); // idempotent
    expect((await taskEvents(open1)).length).toBe(before);

    // they can no longer be assigned
    const r = await h.exec(p, `mutation($id: ID!, $a: ID) { assignTask(id: $id, assigneeId: $a) { id } }`, { id: open1, a: leaver });
    expect(r.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'assigneeId' });
  });
});

describe('identity reactor: UserErased (GDPR)', () => {
  it('blanks the person in every organization directory, unassigns their open tasks there, keeps their comments', async () => {
    const a = await newOrg();
    const b = await newOrg();
    const person = randomUUID();
    for (const o of [a, b]) {
      await h.react(handleIdentityEvent, foreignEvent(o.org, 'Organization', 'MemberJoined', { organizationId: o.org, userId: person, name: 'Paula Person', role: 'MEMBER' }));
    }
    const inA = await h.exec(a.p, `mutation { createTask(input: { title: "A task" }) { id } }`);
    const taskA = inA.data!.createTask.id as string;
    await h.exec(a.p, `mutation($id: ID!, $a: ID) { assignTask(id: $id, assigneeId: $a) { id } }`, { id: taskA, a: person });
    const inB = await h.exec(b.p, `mutation($a: ID) { createTask(input: { title: "B task", assigneeId: $a }) { id } }`, { a: person });
    const taskB = inB.data!.createTask.id as string;
    const comment = await h.exec(userPrincipal(person, a.org, 'MEMBER'), `mutation($t: ID!) { addComment(taskId: $t, body: "my words") { id } }`, { t: taskA });
    expect(comment.errors).toBeUndefined();

    // identity appends UserErased in the erasing OWNER's organization (A); the reaction covers B too
    const erased = foreignEvent(a.org, 'User', 'UserErased', { userId: person });
    await h.react(handleIdentityEvent, erased);
    await h.react(handleIdentityEvent, erased); // redelivery: nothing more

    const names = await h.systemDb.withClient((tx) => tx.query<{ name: string; active: boolean }>(`SELECT name, active FROM members WHERE user_id = $1`, [person]));
    expect(names).toEqual([{ name: '[erased]', active: false }, { name: '[erased]', active: false }]);
    expect((await h.exec(a.p, GET, { id: taskA })).data!.task.assignee).toBeNull();
    expect((await h.exec(b.p, GET, { id: taskB })).data!.task.assignee).toBeNull();
    expect((await taskEvents(taskA)).filter((e) => e.type === 'TaskAssigned')).toHaveLength(2);
    const comments = await h.exec(a.p, `query($id: ID!) { task(id: $id) { comments { body author { id } } } }`, { id: taskA });
    expect(comments.data!.task.comments).toEqual([{ body: 'my words', author: { id: person } }]);
    const r = await h.exec(a.p, `mutation($id: ID!, $a: ID) { assignTask(id: $id, assigneeId: $a) { id } }`, { id: taskA, a: person });
    expect(r.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'assigneeId' });
  });
});

describe('agents reactor (reaction 4) and decideApproval', () => {
  it('an approval request creates one PENDING approval and parks the task; a decision resumes it, once', async () => {
    const { org, owner, p } = await newOrg();
    const agentId = randomUUID();
    await h.react(agentsReactor, foreignEvent(org, 'Agent', 'AgentCreated', { agentId, name: 'Support', kind: 'SUPPORT' }));
    const created = await h.exec(p, `mutation($a: ID) { createTask(input: { title: "Refund", assigneeId: $a }) { id } }`, { a: agentId });
    expect(created.errors).toBeUndefined();
    const taskId = created.data!.createTask.id as string;
    await h.exec(p, `mutation($id: ID!) { changeTaskStatus(id: $id, expectedVersion: 1, status: IN_PROGRESS) { id } }`, { id: taskId });

    const runId = randomUUID();
    const req = foreignEvent(org, 'AgentRun', 'AgentRunApprovalRequested', { runId, agentId, taskId, action: 'refund', payload: { amount: 42 } });
    await h.react(agentsReactor, req);
    await h.react(agentsReactor, req); // redelivery: no second approval

    let t = (await h.exec(p, GET, { id: taskId })).data!.task;
    expect(t.status).toBe('AWAITING_APPROVAL');
    expect(t.approvals).toEqual([
      { id: req.id, status: 'PENDING', action: 'refund', payload: { amount: 42 }, reason: null, decidedBy: null, decidedAt: null, requestedBy: { id: agentId } },
    ]);
    const pending = await h.exec(p, '{ pendingApprovals { id task { id status } } }');
    expect(pending.data!.pendingApprovals).toEqual([{ id: req.id, task: { id: taskId, status: 'AWAITING_APPROVAL' } }]);

    // VIEWER cannot decide; nothing changes
    const viewer = userPrincipal(randomUUID(), org, 'VIEWER');
    const denied = await h.exec(viewer, DECIDE, { id: req.id, ok: true });
    expect(denied.errors![0]!.extensions!.code).toBe('FORBIDDEN');
    // other org: not found
    const other = await h.exec(userPrincipal(randomUUID(), randomUUID(), 'OWNER'), DECIDE, { id: req.id, ok: true });
    expect(other.errors![0]!.extensions!.code).toBe('NOT_FOUND');

    const member = userPrincipal(randomUUID(), org, 'MEMBER');
    const d = await h.exec(member, DECIDE, { id: req.id, ok: false, reason: 'Too much' });
    expect(d.errors).toBeUndefined();
    expect(d.data!.decideApproval).toMatchObject({ status: 'REJECTED', reason: 'Too much', decidedBy: { id: member.kind === 'user' ? member.userId : '' }, task: { id: taskId, status: 'IN_PROGRESS' } });
    expect(d.data!.decideApproval.decidedAt).toMatch(/^\d{4}-/);

    const again = await h.exec(p, DECIDE, { id: req.id, ok: true });
    expect(again.errors![0]!.extensions).toMatchObject({ code: 'CONFLICT', currentVersion: 2 });

    const decided = await h.systemDb.withClient((tx) =>
      tx.query<{ type: string; data: any }>(`SELECT type, data FROM events WHERE stream_id = $1 ORDER BY version`, [`Approval-${req.id}`]),
    );
    expect(decided.map((e) => e.type)).toEqual(['ApprovalRequested', 'ApprovalDecided']);
    expect(decided[1]!.data).toMatchObject({ approvalId: req.id, taskId, runId, agentId, approved: false, reason: 'Too much' });
    t = (await h.exec(p, GET, { id: taskId })).data!.task;
    expect(t.status).toBe('IN_PROGRESS');
    expect((await h.exec(p, '{ pendingApprovals { id } }')).data!.pendingApprovals).toEqual([]);
    void owner;
  });

  it('approving an action the platform applies applies it in the same transaction, exactly once; rejecting applies nothing', async () => {
    const { org, p } = await newOrg();
    const agentId = randomUUID();
    await h.react(agentsReactor, foreignEvent(org, 'Agent', 'AgentCreated', { agentId, name: 'Support', kind: 'SUPPORT' }));
    const taskId = (await h.exec(p, `mutation { createTask(input: { title: "Refund asked twice" }) { id } }`)).data!.createTask.id as string;
    const ask = (action: string, payload: unknown) => foreignEvent(org, 'AgentRun', 'AgentRunApprovalRequested', { runId: randomUUID(), agentId, taskId, action, payload });
    const reply = ask('support.sendReply', { taskId, draft: 'Hello, your refund is on its way.' });
    const priority = ask('task.setPriority', { priority: 'URGENT' });
    const rejected = ask('task.comment', { body: 'Not this one' });
    const plain = ask('crm.updateDeal', { stage: 'won' });
    for (const e of [reply, priority, rejected, plain]) await h.react(agentsReactor, e);

    const member = userPrincipal(randomUUID(), org, 'MEMBER');
    const approver = member.kind === 'user' ? member.userId : '';
    for (const [e, ok] of [[reply, true], [priority, true], [rejected, false], [plain, true]] as const) {
      const d = await h.exec(member, DECIDE, { id: e.id, ok });
      expect(d.errors, String((e.data as { action: string }).action)).toBeUndefined();
    }
    // A second decision is a CONFLICT and applies nothing again.
    expect((await h.exec(p, DECIDE, { id: reply.id, ok: true })).errors![0]!.extensions!.code).toBe('CONFLICT');

    const t = (await h.exec(p, `query($id: ID!) { task(id: $id) { priority status comments { id body author { id } draftedBy { id } } } }`, { id: taskId })).data!.task;
    expect(t.priority).toBe('URGENT');
    expect(t.status).toBe('IN_PROGRESS');
    expect(t.comments).toEqual([{ id: reply.id, body: 'Hello, your refund is on its way.', author: { id: approver }, draftedBy: { id: agentId } }]);
    const types = (await taskEvents(taskId)).map((e) => e.type);
    expect(types.filter((x) => x === 'CommentAdded')).toHaveLength(1);
    expect(types.filter((x) => x === 'TaskUpdated')).toHaveLength(1);
    const [comment] = (await taskEvents(taskId)).filter((e) => e.type === 'CommentAdded');
    expect(comment!.data).toMatchObject({ authorId: approver, draftedBy: { agentId, approvalId: reply.id } });
  });

  it('the task stays parked until its last pending approval is decided', async () => {
    const { org, p } = await newOrg();
    const agentId = randomUUID();
    const taskId = (await h.exec(p, `mutation { createTask(input: { title: "Two asks" }) { id } }`)).data!.createTask.id;
    const a1 = foreignEvent(org, 'AgentRun', 'AgentRunApprovalRequested', { runId: randomUUID(), agentId, taskId, action: 'a', payload: null });
    const a2 = foreignEvent(org, 'AgentRun', 'AgentRunApprovalRequested', { runId: randomUUID(), agentId, taskId, action: 'b', payload: null });
    await h.react(agentsReactor, a1);
    await h.react(agentsReactor, a2);
    expect((await h.exec(p, DECIDE, { id: a1.id, ok: true })).data!.decideApproval.task.status).toBe('AWAITING_APPROVAL');
    expect((await h.exec(p, DECIDE, { id: a2.id, ok: true })).data!.decideApproval.task.status).toBe('IN_PROGRESS');
  });

  it('a request for an unknown task writes nothing', async () => {
    const { org } = await newOrg();
    const before = await h.eventCount();
    await h.react(agentsReactor, foreignEvent(org, 'AgentRun', 'AgentRunApprovalRequested', { runId: randomUUID(), agentId: randomUUID(), taskId: randomUUID(), action: 'x', payload: null }));
    expect(await h.eventCount()).toBe(before);
  });
});

describe('customers reactor (reaction 2)', () => {
  it('creates one follow-up task per churn episode, assigned to the owner', async () => {
    const { org, owner, p } = await newOrg();
    const customerId = randomUUID();
    const flag = (episode: number) =>
      foreignEvent(org, 'Customer', 'ChurnRiskFlagged', { customerId, name: 'Acme', score: 31, ownerId: owner, episode });
    const first = flag(1);
    await h.react(handleCustomersEvent, first);
    await h.react(handleCustomersEvent, first); // redelivery
    await h.react(handleCustomersEvent, flag(1)); // another event, same episode
    const list = async () =>
      (await h.exec(p, `query($c: ID) { tasks(filter: { customerId: $c }) { totalCount edges { node { id title priority status
        assignee { ... on User { id } } createdBy { id } customer { id } } } } }`, { c: customerId })).data!.tasks;
    let tasks = await list();
    expect(tasks.totalCount).toBe(1);
    expect(tasks.edges[0].node).toMatchObject({
      title: 'Follow up: Acme is at risk of churn',
      priority: 'HIGH',
      status: 'TODO',
      assignee: { id: owner },
      createdBy: { id: owner },
      customer: { id: customerId },
    });
    const ev = (await taskEvents(tasks.edges[0].node.id))[0]!;
    expect(ev.data.origin).toEqual({ kind: 'churnRisk', key: `churn:${customerId}:1` });
    expect(ev.metadata).toMatchObject({ actor: 'service:tasks', causationId: first.id });

    await h.react(handleCustomersEvent, flag(2)); // a new episode: a new follow-up
    tasks = await list();
    expect(tasks.totalCount).toBe(2);

    // Customer.tasks via an entity reference
    const ent = await h.exec(p, `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { tasks { totalCount } } } }`, {
      r: [{ __typename: 'Customer', id: customerId }],
    });
    expect(ent.data!._entities[0].tasks.totalCount).toBe(2);
  });

  it('an owner known to have left is not assigned; the org owner stands in as creator', async () => {
    const { org, owner, p } = await newOrg();
    const gone = randomUUID();
    await h.react(handleIdentityEvent, foreignEvent(org, 'Organization', 'MemberJoined', { organizationId: org, userId: gone, name: 'G', role: 'MEMBER' }));
    await h.react(handleIdentityEvent, foreignEvent(org, 'Organization', 'MemberRemoved', { organizationId: org, userId: gone }));
    const customerId = randomUUID();
    await h.react(handleCustomersEvent, foreignEvent(org, 'Customer', 'ChurnRiskFlagged', { customerId, name: 'Beta', score: 20, ownerId: gone, episode: 1 }));
    const r = await h.exec(p, `query($c: ID) { tasks(filter: { customerId: $c }) { edges { node { assignee { __typename } createdBy { id } } } } }`, { c: customerId });
    expect(r.data!.tasks.edges).toEqual([{ node: { assignee: null, createdBy: { id: owner } } }]);
  });
});
