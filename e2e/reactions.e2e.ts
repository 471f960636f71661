/**
 * Issue 3's five reactions between services, end to end: the whole stack as processes, every write through the
 * gateway, every effect observed through the gateway (eventually, bounded). For each reaction the admin reads both
 * services' events tables and checks that the reaction's event names the triggering event as its causationId and
 * carries the same correlationId; a raw JetStream read checks that the correlation id and the W3C trace context
 * travel in the NATS message headers, across the reaction too.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, type Bus } from '@cos/bus';
import { createLogger } from '@cos/logger';
import { eventually, gql, gqlOk } from '../scripts/lib/graphql-client';
import { startTestStack, type TestStack } from './support/test-stack';

let t: TestStack;
let admin: pg.Client;
let bus: Bus;
let token: string;
let ownerId: string;
let orgId: string;
let agentIds: Record<string, string>;

const WAIT = 20_000;

beforeAll(async () => {
  t = await startTestStack({ extraEnv: { LOG_LEVEL: 'info', AGENTS_SUPERVISOR_MS: '1000' } });
  admin = new pg.Client({ connectionString: t.db.adminUrl });
  await admin.connect();
  bus = await connectBus({
    servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    subjectPrefix: t.prefix,
    name: 'reactions-e2e',
    log: createLogger('reactions-e2e', 'silent'),
  });
  const r = await gqlOk(
    t.gatewayUrl,
    `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken user { id } organization { id } } }`,
    { input: { email: 'olga@reactions.test', password: 'correct horse battery', name: 'Olga Owner', organizationName: 'Reactions Inc' } },
  );
  token = r.signUp.accessToken;
  ownerId = r.signUp.user.id;
  orgId = r.signUp.organization.id;
  // Reaction to OrganizationCreated: the organization's seven specialists.
  agentIds = await eventually(async () => {
    const a = await ok<{ agents: { id: string; kind: string }[] }>(`{ agents { id kind } }`);
    return a.agents.length === 7 ? Object.fromEntries(a.agents.map((x) => [x.kind, x.id])) : null;
  }, WAIT);
  // The agents work in an external worker, through the graph (the default deterministic model).
  await t.startWorker({ adminToken: token });
}, 120_000);

afterAll(async () => {
  await bus?.close().catch(() => {});
  await admin?.end().catch(() => {});
  await t?.stop();
});

const q = <T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}, opts: { token?: string; headers?: Record<string, string> } = {}) =>
  gql<T>(t.gatewayUrl, query, variables, { token: opts.token ?? token, headers: opts.headers });
const ok = <T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}, opts: { token?: string; headers?: Record<string, string> } = {}) =>
  gqlOk<T>(t.gatewayUrl, query, variables, { token: opts.token ?? token, headers: opts.headers });

interface EventRow {
  id: string;
  type: string;
  stream_id: string;
  data: Record<string, any>;
  metadata: { actor: string; correlationId: string; causationId?: string | null; traceparent?: string | null };
}
/** Events of one service (admin SQL on its schema), oldest first. */
async function events(service: string, where: string, params: unknown[]): Promise<EventRow[]> {
  const { rows } = await admin.query<EventRow>(
    `SELECT id, type, stream_id, data, metadata FROM ${service}.events WHERE org_id = $1 AND ${where} ORDER BY global_position`,
    [orgId, ...params],
  );
  return rows;
}
/** The reaction's event names the trigger as its cause, keeps its correlation id, and is the service's act. */
function expectCausedBy(reaction: EventRow, trigger: EventRow, actor: string) {
  expect(reaction.metadata.causationId).toBe(trigger.id);
  expect(reaction.metadata.correlationId).toBe(trigger.metadata.correlationId);
  expect(reaction.metadata.actor).toBe(actor);
}

const traceId = () => randomBytes(16).toString('hex');
const traceHeaders = (trace: string, correlation: string) => ({
  traceparent: `00-${trace}-${randomBytes(8).toString('hex')}-01`,
  'x-correlation-id': correlation,
});

/** The last JetStream message on `subject` (raw, as any consumer receives it). */
async function lastMessage(subject: string) {
  const m = await bus.jsm.streams.getMessage(bus.streamName, { last_by_subj: subject });
  if (!m) throw new Error(`no message on ${subject}`);
  return m;
}

async function inviteAndAccept(email: string, name: string): Promise<{ userId: string; token: string }> {
  const inv = await ok(`mutation($e: String!, $n: String!) { inviteMember(email: $e, name: $n, role: MEMBER) { user { id } } }`, { e: email, n: name });
  const { rows } = await admin.query<{ body: string }>(
    `SELECT body FROM identity.outbound_emails WHERE lower(to_address) = lower($1) ORDER BY created_at DESC LIMIT 1`,
    [email],
  );
  const invitation = /token=([A-Za-z0-9_-]+)/.exec(rows[0]?.body ?? '')?.[1];
  expect(invitation, 'invitation email').toBeTruthy();
  const acc = await gqlOk(t.gatewayUrl, `mutation($t: String!) { acceptInvitation(token: $t, password: "correct horse battery") { accessToken } }`, {
    t: invitation,
  });
  return { userId: inv.inviteMember.user.id, token: acc.acceptInvitation.accessToken };
}

const TASK = `query($id: ID!) { task(id: $id) { id status version assignee { __typename ... on User { id } ... on Agent { id } }
  agentRuns { id status error agent { kind } } } }`;
const task = async (id: string) => (await ok(TASK, { id })).task;

describe('reaction 1: a member removed from the organization → their open tasks become unassigned', () => {
  it('unassigns open tasks (not finished ones), caused by MemberRemoved, with the trace and correlation in NATS headers', async () => {
    const member = await inviteAndAccept('mia@reactions.test', 'Mia Member');
    // tasks learns about members from identity's events: assignment works once MemberJoined has been consumed.
    const create = (title: string) =>
      ok(`mutation($t: String!, $a: ID!) { createTask(input: { title: $t, assigneeId: $a }) { id version } }`, { t: title, a: member.userId });
    const open1 = await eventually(() => create('Open one').then((r) => r.createTask).catch(() => null), WAIT);
    const open2 = (await create('Open two')).createTask;
    const done = (await create('Finished')).createTask;
    await ok(`mutation($id: ID!) { changeTaskStatus(id: $id, expectedVersion: 1, status: IN_PROGRESS) { id } }`, { id: open2.id });
    await ok(`mutation($id: ID!) { changeTaskStatus(id: $id, expectedVersion: 1, status: DONE) { id } }`, { id: done.id });
    const unrelated = (await ok(`mutation($a: ID!) { createTask(input: { title: "Owner's", assigneeId: $a }) { id } }`, { a: ownerId })).createTask;

    const trace = traceId();
    const correlation = `e2e-remove-${randomUUID()}`;
    const removed = await ok(`mutation($u: ID!) { removeMember(userId: $u) }`, { u: member.userId }, { headers: traceHeaders(trace, correlation) });
    expect(removed.removeMember).toBe(true);

    for (const id of [open1.id, open2.id]) {
      const after = await eventually(async () => {
        const x = await task(id);
        return x.assignee === null ? x : null;
      }, WAIT);
      expect(after.status).not.toBe('DONE');
    }
    expect((await task(done.id)).assignee).toEqual({ __typename: 'User', id: member.userId });
    expect((await task(unrelated.id)).assignee).toEqual({ __typename: 'User', id: ownerId });
    // The removed member's session no longer reaches the organization's data through refresh; the members list drops them.
    const members = await ok(`query($id: ID!) { organization(id: $id) { members { user { id } } } }`, { id: orgId });
    expect(members.organization.members.map((m: { user: { id: string } }) => m.user.id)).not.toContain(member.userId);

    const [trigger] = await events('identity', `type = 'MemberRemoved' AND data->>'userId' = $2`, [member.userId]);
    expect(trigger!.metadata.correlationId).toBe(correlation);
    const reactions = await events('tasks', `type = 'TaskAssigned' AND metadata->>'causationId' = $2`, [trigger!.id]);
    expect(reactions.map((r) => r.data.taskId).sort()).toEqual([open1.id, open2.id].sort());
    for (const r of reactions) {
      expectCausedBy(r, trigger!, 'service:tasks');
      expect(r.data.assignee).toBeNull();
    }

    // W3C trace context and the correlation id travel in the message headers: the trigger and the reaction.
    const triggerMsg = await lastMessage(`${t.prefix}.${orgId}.identity.Organization.MemberRemoved`);
    expect(triggerMsg.header.get('Cos-Event-Id')).toBe(trigger!.id);
    expect(triggerMsg.header.get('Cos-Correlation-Id')).toBe(correlation);
    expect(triggerMsg.header.get('traceparent')).toMatch(new RegExp(`^00-${trace}-[0-9a-f]{16}-[0-9a-f]{2}$`));
    const reactionMsg = await eventually(async () => {
      const m = await lastMessage(`${t.prefix}.${orgId}.tasks.Task.TaskAssigned`).catch(() => null);
      return m && reactions.some((r) => r.id === m.header.get('Cos-Event-Id')) ? m : null;
    }, WAIT);
    expect(reactionMsg.header.get('Cos-Correlation-Id')).toBe(correlation);
    expect(reactionMsg.header.get('traceparent')).toMatch(new RegExp(`^00-${trace}-`));
  });
});

describe('reaction 2: churnRisk turns true → one follow-up task for the customer owner per episode', () => {
  it('one task per episode: a further low signal adds none; recovery then a new drop adds a second', async () => {
    const c = await ok(`mutation($o: ID!) { createCustomer(input: { name: "Initech", domain: "initech.example", ownerId: $o }) { id churnRisk } }`, { o: ownerId });
    const customerId = c.createCustomer.id;
    const signal = (v: number) =>
      ok(`mutation($id: ID!, $v: Float!) { recordSignal(customerId: $id, input: { kind: PRODUCT_USAGE, value: $v }) { score } }`, { id: customerId, v });
    const followUps = async () =>
      (
        await ok(`query($c: ID!) { tasks(filter: { customerId: $c }, first: 50) { totalCount edges { node { id title priority
          assignee { __typename ... on User { id } } createdAt } } } }`, { c: customerId })
      ).tasks as { totalCount: number; edges: { node: { id: string; title: string; priority: string; assignee: { id: string } | null } }[] };

    expect((await signal(0.1)).recordSignal.score).toBeLessThan(40); // usage mean 0.1 → score 10: at risk
    expect((await ok(`query($id: ID!) { customer(id: $id) { churnRisk } }`, { id: customerId })).customer.churnRisk).toBe(true);
    const first = await eventually(async () => ((await followUps()).totalCount >= 1 ? followUps() : null), WAIT);
    expect(first.totalCount).toBe(1);
    expect(first.edges[0]!.node).toMatchObject({ priority: 'HIGH', assignee: { __typename: 'User', id: ownerId } });
    expect(first.edges[0]!.node.title).toContain('Initech');

    await signal(0.1); // still at risk: same episode
    await signal(1); // mean 0.4 → score 40: recovered
    expect((await signal(1)).recordSignal.score).toBeGreaterThanOrEqual(40);
    expect((await ok(`query($id: ID!) { customer(id: $id) { churnRisk } }`, { id: customerId })).customer.churnRisk).toBe(false);
    for (let i = 0; i < 3; i++) await signal(0); // mean 2.2/7 → 31: a new episode
    expect((await ok(`query($id: ID!) { customer(id: $id) { churnRisk } }`, { id: customerId })).customer.churnRisk).toBe(true);
    // The consumer handles customers' events in order, so once episode 2's task exists, the in-episode low signal
    // has been handled too: exactly two tasks means it created none.
    const second = await eventually(async () => ((await followUps()).totalCount >= 2 ? followUps() : null), WAIT);
    expect(second.totalCount).toBe(2);

    const flags = await events('customers', `type = 'ChurnRiskFlagged' AND data->>'customerId' = $2`, [customerId]);
    expect(flags.map((f) => f.data.episode)).toEqual([1, 2]);
    const created = await events('tasks', `type = 'TaskCreated' AND data->>'customerId' = $2`, [customerId]);
    expect(created).toHaveLength(2);
    created.forEach((e, i) => expectCausedBy(e, flags[i]!, 'service:tasks'));
  });
});

describe('reactions 3-5: agents work on tasks, ask people for approval, and resume or stop on the decision', () => {
  const createAssigned = (title: string, agentId: string) =>
    ok(`mutation($t: String!, $a: ID!) { createTask(input: { title: $t, assigneeId: $a }) { id } }`, { t: title, a: agentId }).then((r) => r.createTask.id as string);
  const assign = (id: string, agentId: string) => ok(`mutation($id: ID!, $a: ID!) { assignTask(id: $id, assigneeId: $a) { id } }`, { id, a: agentId });

  it('3: a task assigned to an Agent → an AgentRun appears on the task and runs to completion', async () => {
    const id = (await ok(`mutation { createTask(input: { title: "Checkout is down for EU customers" }) { id } }`)).createTask.id as string;
    // tasks learns about agents from agents' events; assignment to an agent works once AgentCreated was consumed.
    await eventually(() => assign(id, agentIds.TRIAGE!).catch(() => null), WAIT);
    const run = await eventually(async () => {
      const x = await task(id);
      return x.agentRuns.length === 1 && x.agentRuns[0].status === 'SUCCEEDED' ? x.agentRuns[0] : null;
    }, WAIT);
    expect(run.agent.kind).toBe('TRIAGE');

    const [assigned] = await events('tasks', `type = 'TaskAssigned' AND data->>'taskId' = $2`, [id]);
    const [queued] = await events('agents', `type = 'AgentRunQueued' AND data->>'taskId' = $2`, [id]);
    expectCausedBy(queued!, assigned!, 'service:agents');
    expect((await task(id)).agentRuns).toHaveLength(1); // never twice for one assignment
  });

  it('4 + 5 approved: a SUPPORT run asks → PENDING approval, task AWAITING_APPROVAL; approving resumes it to SUCCEEDED', async () => {
    const id = await createAssigned('Customer asks about the refund', agentIds.SUPPORT!);
    const approval = await eventually(async () => {
      const p = await ok(`{ pendingApprovals { id action status task { id status } requestedBy { id kind } } }`);
      return p.pendingApprovals.find((a: { task: { id: string } }) => a.task.id === id);
    }, WAIT);
    expect(approval).toMatchObject({ action: 'support.sendReply', status: 'PENDING', task: { id, status: 'AWAITING_APPROVAL' }, requestedBy: { id: agentIds.SUPPORT } });
    expect((await task(id)).agentRuns[0]).toMatchObject({ status: 'WAITING_FOR_APPROVAL' });

    const decided = await ok(`mutation($id: ID!) { decideApproval(id: $id, approve: true, reason: "ship it") { status reason decidedBy { id } } }`, { id: approval.id });
    expect(decided.decideApproval).toEqual({ status: 'APPROVED', reason: 'ship it', decidedBy: { id: ownerId } });
    const run = await eventually(async () => {
      const r = (await task(id)).agentRuns[0];
      return r?.status === 'SUCCEEDED' ? r : null;
    }, WAIT);
    expect(run.error).toBeNull();
    expect((await ok(`{ pendingApprovals { id } }`)).pendingApprovals.map((a: { id: string }) => a.id)).not.toContain(approval.id);
    // Approving support.sendReply posted the agent's draft on the task, once, authored by the person who approved it.
    const posted = await ok(
      `query($id: ID!, $run: ID!) { task(id: $id) { comments { id body author { id } draftedBy { id kind } } } agentRun(id: $run) { result } }`,
      { id, run: run.id },
    );
    expect(posted.task.comments).toEqual([{ id: approval.id, body: expect.stringContaining('Customer asks about the refund'), author: { id: ownerId }, draftedBy: { id: agentIds.SUPPORT, kind: 'SUPPORT' } }]);
    expect(posted.agentRun.result).toMatchObject({ posted: true, commentId: approval.id });

    const [asked] = await events('agents', `type = 'AgentRunApprovalRequested' AND data->>'taskId' = $2`, [id]);
    const [requested] = await events('tasks', `type = 'ApprovalRequested' AND data->>'taskId' = $2`, [id]);
    expectCausedBy(requested!, asked!, 'service:tasks');
    const [decision] = await events('tasks', `type = 'ApprovalDecided' AND data->>'taskId' = $2`, [id]);
    const [resumed] = await events('agents', `type = 'AgentRunResumed' AND data->>'runId' = $2`, [run.id]);
    expectCausedBy(resumed!, decision!, 'service:agents');
    const [succeeded] = await events('agents', `type = 'AgentRunSucceeded' AND data->>'runId' = $2`, [run.id]);
    expect(succeeded).toBeTruthy();
  });

  it('4 + 5 rejected: rejecting ends the run with the reason', async () => {
    const id = await createAssigned('Customer wants a discount', agentIds.SUPPORT!);
    const approval = await eventually(async () => {
      const p = await ok(`{ pendingApprovals { id task { id } } }`);
      return p.pendingApprovals.find((a: { task: { id: string } }) => a.task.id === id);
    }, WAIT);
    const decided = await ok(`mutation($id: ID!) { decideApproval(id: $id, approve: false, reason: "Too generous") { status reason } }`, { id: approval.id });
    expect(decided.decideApproval).toEqual({ status: 'REJECTED', reason: 'Too generous' });
    const run = await eventually(async () => {
      const r = (await task(id)).agentRuns[0];
      return r && r.status !== 'WAITING_FOR_APPROVAL' && r.status !== 'QUEUED' && r.status !== 'RUNNING' ? r : null;
    }, WAIT);
    expect(run.status).toBe('CANCELLED');
    expect(run.error).toContain('Too generous');
    const [decision] = await events('tasks', `type = 'ApprovalDecided' AND data->>'taskId' = $2`, [id]);
    const [cancelled] = await events('agents', `type = 'AgentRunCancelled' AND data->>'runId' = $2`, [run.id]);
    expectCausedBy(cancelled!, decision!, 'service:agents');
    // A second decision on the same approval is refused and changes nothing.
    const again = await q(`mutation($id: ID!) { decideApproval(id: $id, approve: true) { status } }`, { id: approval.id });
    expect(again.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect((await task(id)).agentRuns[0].status).toBe('CANCELLED');
  });
});
