/**
 * Issue 2's end-to-end flow, through the gateway over HTTP against the whole stack as processes:
 * sign up → create a customer → record signals → create a task for that customer assigned to the user →
 * read the task with its assignee's name and the customer's health score in ONE request → stale update → CONFLICT.
 * Plus bad input: every case answers an API.md code and writes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, gqlOk } from '../scripts/lib/graphql-client';
import { startTestStack, type TestStack } from './support/test-stack';

let t: TestStack;
let token: string;
let userId: string;
let customerId: string;
let taskId: string;

beforeAll(async () => {
  t = await startTestStack();
});
afterAll(async () => {
  await t?.stop();
});

const q = <T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}, tok: string | undefined = token) =>
  gql<T>(t.gatewayUrl, query, variables, { token: tok });
const ok = <T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}) =>
  gqlOk<T>(t.gatewayUrl, query, variables, { token });

describe('foundation flow through the gateway', () => {
  it('signs up and gets tokens', async () => {
    const r = await q(
      `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken expiresAt user { id name email } organization { id name slug } } }`,
      { input: { email: 'ada@e2e.test', password: 'correct horse battery', name: 'Ada Lovelace', organizationName: 'Analytical Engines' } },
      undefined,
    );
    expect(r.errors, t.logs()).toBeUndefined();
    token = r.data!.signUp.accessToken;
    userId = r.data!.signUp.user.id;
    expect(r.data!.signUp.user).toMatchObject({ name: 'Ada Lovelace', email: 'ada@e2e.test' });
    expect(r.data!.signUp.organization.slug).toMatch(/^analytical-engines/);
  });

  it('creates a customer and records signals that compute a health score', async () => {
    const c = await ok(`mutation { createCustomer(input: { name: "Globex", domain: "globex.example", plan: "growth", mrr: 4200 }) { id name } }`);
    customerId = c.createCustomer.id;
    await ok(`mutation($id: ID!) { recordSignal(customerId: $id, input: { kind: PRODUCT_USAGE, value: 0.9 }) { score } }`, { id: customerId });
    const h = await ok(`mutation($id: ID!) { recordSignal(customerId: $id, input: { kind: NPS, value: 9 }) { score grade factors { name weight value } } }`, {
      id: customerId,
    });
    expect(h.recordSignal.score).toBeGreaterThanOrEqual(80);
    expect(h.recordSignal.factors.map((f: { name: string }) => f.name).sort()).toEqual(expect.arrayContaining([expect.any(String)]));
  });

  it('creates a task for that customer assigned to the user and reads it across three subgraphs in one request', async () => {
    const c = await ok(
      `mutation($input: CreateTaskInput!) { createTask(input: $input) { id version status } }`,
      { input: { title: 'Prepare the renewal', priority: 'HIGH', customerId, assigneeId: userId } },
    );
    taskId = c.createTask.id;
    expect(c.createTask).toMatchObject({ version: 1, status: 'TODO' });

    const r = await ok(
      `query($id: ID!) { task(id: $id) { title version
          assignee { __typename ... on User { id name } }
          createdBy { name }
          customer { name healthScore { score grade } churnRisk } } }`,
      { id: taskId },
    );
    expect(r.task).toMatchObject({
      title: 'Prepare the renewal',
      assignee: { __typename: 'User', id: userId, name: 'Ada Lovelace' },
      createdBy: { name: 'Ada Lovelace' },
      customer: { name: 'Globex', churnRisk: false },
    });
    expect(r.task.customer.healthScore.score).toBeGreaterThanOrEqual(80);
  });

  it('updates with the current version, then answers CONFLICT for the stale one and keeps the first write', async () => {
    const u = await ok(`mutation($id: ID!) { updateTask(id: $id, expectedVersion: 1, input: { title: "Renewal deck" }) { version title } }`, { id: taskId });
    expect(u.updateTask).toEqual({ version: 2, title: 'Renewal deck' });
    const stale = await q(`mutation($id: ID!) { updateTask(id: $id, expectedVersion: 1, input: { title: "Lost update" }) { version } }`, { id: taskId });
    expect(stale.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', currentVersion: 2 });
    const after = await ok(`query($id: ID!) { task(id: $id) { title version } }`, { id: taskId });
    expect(after.task).toEqual({ title: 'Renewal deck', version: 2 });
  });
});

describe('bad input gets a clear error and writes nothing', () => {
  const countTasks = async () => (await ok(`{ tasks(first: 100) { totalCount } }`)).tasks.totalCount as number;

  it('malformed GraphQL → 400, no stack', async () => {
    const r = await q(`mutation { createTask(input: { title: "x" } `);
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.errors)).not.toMatch(/at .*\.ts|node_modules/);
  });

  it('wrong variable types, empty titles, oversized strings, unknown ids', async () => {
    const before = await countTasks();
    const wrongType = await q(`mutation($p: TaskPriority!) { createTask(input: { title: "t", priority: $p }) { id } }`, { p: 'NOT_A_PRIORITY' });
    expect(wrongType.errors?.length).toBeGreaterThan(0);

    const empty = await q(`mutation { createTask(input: { title: "   " }) { id } }`);
    expect(empty.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(String(empty.errors?.[0]?.extensions?.field)).toMatch(/title/);

    const huge = await q(`mutation($t: String!) { createTask(input: { title: $t }) { id } }`, { t: 'x'.repeat(5000) });
    expect(huge.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });

    const unknown = await q(`mutation { changeTaskStatus(id: "00000000-0000-4000-8000-000000000000", expectedVersion: 1, status: DONE) { id } }`);
    expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');

    const badId = await q(`mutation { addComment(taskId: "not-an-id", body: "hi") { id } }`);
    expect(badId.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');

    const badSignal = await q(`mutation($id: ID!) { recordSignal(customerId: $id, input: { kind: NPS, value: 42 }) { score } }`, { id: customerId });
    expect(badSignal.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');

    expect(await countTasks()).toBe(before);
    const hist = await ok(`query($id: ID!) { customer(id: $id) { healthHistory { score } } }`, { id: customerId });
    expect(hist.customer.healthHistory).toHaveLength(2);
  });

  it('an unknown task id reads as null, and a bad token is refused with 401', async () => {
    const r = await ok(`{ task(id: "00000000-0000-4000-8000-000000000000") { id } }`);
    expect(r.task).toBeNull();
    const bad = await q(`{ me { id } }`, {}, 'not.a.jwt');
    expect(bad.status).toBe(401);
    expect(bad.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('a subgraph refuses a direct call without the gateway signature', async () => {
    const res = await fetch(t.stack.serviceUrl('tasks'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ tasks { totalCount } }' }),
    });
    expect(res.status).toBe(401);
  });
});
