/**
 * The gateway's response cache end to end (whole stack as processes, the gateway with its default cache on): hits
 * are the caller's own answers only, a mutation through the gateway is read back at once, a change made by a
 * reaction in another service (no gateway request involved) reaches a cached answer through its NATS event, and
 * fields that change without events are never cached.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connectBus, type Bus } from '@cos/bus';
import { createLogger } from '@cos/logger';
import { eventually, gql, gqlOk } from '../scripts/lib/graphql-client';
import { startTestStack, type TestStack } from './support/test-stack';

let t: TestStack;
let bus: Bus;
const users: Record<'ann' | 'bob', { token: string; userId: string; orgId: string }> = {} as never;

const CACHE = 'x-cos-cache';
const TASKS = `query CachedTasks($first: Int!) { tasks(first: $first) { totalCount edges { node { id title version createdBy { name } } } } }`;

/** When the last event of this stack passed on NATS (the cache's invalidation feed). */
let lastEventAt = Date.now();

/**
 * Waits until no event has passed on NATS for `quietMs`. The relay publishes a write's events shortly after the
 * mutation answers; one arriving between a test's first and second query rightly drops the answer, so every test
 * starts once the events of the writes before it have passed.
 */
async function settle(quietMs = 400): Promise<void> {
  for (;;) {
    const wait = lastEventAt + quietMs - Date.now();
    if (wait <= 0) return;
    await new Promise((r) => setTimeout(r, wait));
  }
}

const run = (who: 'ann' | 'bob', query: string, variables: Record<string, unknown> = {}) =>
  gql(t.gatewayUrl, query, variables, { token: users[who].token });

beforeAll(async () => {
  t = await startTestStack({ extraEnv: { LOG_LEVEL: 'info' } });
  bus = await connectBus({
    servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    subjectPrefix: t.prefix,
    name: 'response-cache-e2e',
    log: createLogger('response-cache-e2e', 'silent'),
  });
  const feed = bus.nc.subscribe(`${t.prefix}.>`);
  void (async () => {
    for await (const _ of feed) lastEventAt = Date.now();
  })();
  for (const [who, name] of [
    ['ann', 'Ann Cache'],
    ['bob', 'Bob Other'],
  ] as const) {
    const r = await gqlOk(
      t.gatewayUrl,
      `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken user { id } organization { id } } }`,
      { input: { email: `${who}@cache.test`, password: 'correct horse battery', name, organizationName: `${name} Org` } },
    );
    users[who] = { token: r.signUp.accessToken, userId: r.signUp.user.id, orgId: r.signUp.organization.id };
  }
  await gqlOk(t.gatewayUrl, `mutation { createTask(input: { title: "first" }) { id } }`, {}, { token: users.ann.token });
}, 120_000);

beforeEach(() => settle(), 10_000);

afterAll(async () => {
  await bus?.close().catch(() => {});
  await t?.stop();
});

/** One sample of the gateway's /metrics (labels must match exactly the given ones). */
async function gatewayMetric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(t.gatewayUrl.replace(/\/graphql$/, '/metrics'))).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : NaN;
}

describe('response cache', () => {
  it('serves a repeated query from the cache, byte for byte the answer it computed', async () => {
    const first = await run('ann', TASKS, { first: 10 });
    expect(first.errors).toBeUndefined();
    expect(first.headers.get(CACHE)).toBe('miss');
    const second = await run('ann', TASKS, { first: 10 });
    expect(second.headers.get(CACHE)).toBe('hit');
    expect(second.data).toEqual(first.data);
    expect((second.data as any).tasks.edges[0].node.title).toBe('first');
    // Other variables: another answer.
    expect((await run('ann', TASKS, { first: 5 })).headers.get(CACHE)).toBe('miss');
  });

  it('answers fresh when the client sends Cache-Control: no-cache (and stores that answer), no-store neither reads nor stores', async () => {
    const q = `query Fresh { tasks(first: 2) { totalCount } }`;
    await run('ann', q);
    expect((await run('ann', q)).headers.get(CACHE)).toBe('hit');
    const fresh = await gql(t.gatewayUrl, q, {}, { token: users.ann.token, headers: { 'cache-control': 'no-cache' } });
    expect(fresh.headers.get(CACHE)).toBe('bypass');
    expect(fresh.errors).toBeUndefined();
    expect((await run('ann', q)).headers.get(CACHE)).toBe('hit');
    // no-store: computed and not stored — the next plain request computes it again.
    const q3 = `query Fresh3 { tasks(first: 2) { totalCount } }`;
    expect((await gql(t.gatewayUrl, q3, {}, { token: users.ann.token, headers: { 'cache-control': 'no-store' } })).headers.get(CACHE)).toBe('bypass');
    expect((await run('ann', q3)).headers.get(CACHE)).toBe('miss');
    expect((await run('ann', q3)).headers.get(CACHE)).toBe('hit');
  });

  it('never serves one principal another principal’s answer (other tenant, same query text)', async () => {
    await run('ann', TASKS, { first: 10 });
    const bob = await run('bob', TASKS, { first: 10 });
    expect(bob.headers.get(CACHE)).toBe('miss');
    expect((bob.data as any).tasks.totalCount).toBe(0);
    // Anonymous callers are not cached at all.
    const anon = await gql(t.gatewayUrl, TASKS, { first: 10 });
    expect(anon.headers.get(CACHE)).toBeNull();
  });

  it('reads a mutation made through the gateway back at once (read-your-writes)', async () => {
    const before = await run('ann', TASKS, { first: 10 });
    const task = (before.data as any).tasks.edges[0].node;
    expect((await run('ann', TASKS, { first: 10 })).headers.get(CACHE)).toBe('hit');
    await gqlOk(
      t.gatewayUrl,
      `mutation($id: ID!, $v: Int!) { updateTask(id: $id, expectedVersion: $v, input: { title: "renamed" }) { id version } }`,
      { id: task.id, v: task.version },
      { token: users.ann.token },
    );
    // At once: before the mutation's event has passed on NATS.
    const after = await run('ann', TASKS, { first: 10 });
    expect(after.headers.get(CACHE)).toBe('miss');
    expect((after.data as any).tasks.edges[0].node.title).toBe('renamed');
  });

  it('drops an answer when another service changes its data in a reaction (event over NATS, no gateway request)', async () => {
    const q = `query OwnerTasks { tasks(first: 50) { totalCount edges { node { title customer { name } } } } }`;
    const base = (await run('ann', q)).data as any;
    expect((await run('ann', q)).headers.get(CACHE)).toBe('hit');
    // A customer at risk of churn: the TASKS service opens a follow-up task in its consumer. The mutation below
    // only touches customers; the tasks answer cached above is dropped by the TaskCreated event alone.
    const c = await gqlOk(
      t.gatewayUrl,
      `mutation($o: ID!) { createCustomer(input: { name: "Churny", ownerId: $o }) { id } }`,
      { o: users.ann.userId },
      { token: users.ann.token },
    );
    await gqlOk(
      t.gatewayUrl,
      `mutation($id: ID!) { recordSignal(customerId: $id, input: { kind: PRODUCT_USAGE, value: 0.05 }) { score } }`,
      { id: c.createCustomer.id },
      { token: users.ann.token },
    );
    const grown = await eventually(async () => {
      const r = (await run('ann', q)).data as any;
      return r.tasks.totalCount > base.tasks.totalCount ? r : null;
    }, 15_000);
    expect(grown.tasks.edges.some((e: any) => e.node.customer?.name === 'Churny')).toBe(true);
  });

  it('drops a tenant’s answers from a subgraph when that subgraph’s event for the tenant passes on NATS', async () => {
    await run('ann', TASKS, { first: 10 });
    await run('bob', TASKS, { first: 10 });
    expect((await run('ann', TASKS, { first: 10 })).headers.get(CACHE)).toBe('hit');
    expect((await run('bob', TASKS, { first: 10 })).headers.get(CACHE)).toBe('hit');
    bus.nc.publish(`${t.prefix}.${users.ann.orgId}.tasks.Task.TaskUpdated`, '{}');
    await bus.nc.flush();
    await eventually(async () => (await run('ann', TASKS, { first: 10 })).headers.get(CACHE) === 'miss', 5_000, 50);
    // Another tenant's answers stay.
    expect((await run('bob', TASKS, { first: 10 })).headers.get(CACHE)).toBe('hit');
  });

  it('drops every answer of the tenant on membership/role/key events, only its own subgraph’s on others', async () => {
    const q = `query OnlyTasks { tasks(first: 3) { totalCount } }`; // read from the tasks subgraph alone
    await run('ann', q);
    expect((await run('ann', q)).headers.get(CACHE)).toBe('hit');
    // An identity event about a user: answers read from identity go, this one (tasks only) stays.
    bus.nc.publish(`${t.prefix}.${users.ann.orgId}.identity.User.UserLoggedIn`, '{}');
    await bus.nc.flush();
    await new Promise((r) => setTimeout(r, 300));
    expect((await run('ann', q)).headers.get(CACHE)).toBe('hit');
    // A role change decides what principals may see: the whole tenant goes.
    bus.nc.publish(`${t.prefix}.${users.ann.orgId}.identity.Organization.MemberRoleChanged`, '{}');
    await bus.nc.flush();
    await eventually(async () => (await run('ann', q)).headers.get(CACHE) === 'miss', 5_000, 50);
  });

  it('recomputes a dropped answer calling only the subgraph whose event dropped it (subgraph answers cached per principal)', async () => {
    const q = `query Mixed { tasks(first: 10) { edges { node { id title version createdBy { name } } } } }`; // tasks + identity
    const sub = (kind: string) => gatewayMetric('cos_response_cache_total', `kind="${kind}"`);
    await run('ann', q);
    expect((await run('ann', q)).headers.get(CACHE)).toBe('hit');
    // Another principal asking the same: nothing of ann's is served to bob, not even a subgraph answer.
    const hitsBeforeBob = await sub('subgraph_hit');
    expect((await run('bob', q)).headers.get(CACHE)).toBe('miss');
    expect(await sub('subgraph_hit')).toBe(hitsBeforeBob);

    // A write in tasks: the client answer goes; tasks is asked again, identity's answer comes from the cache.
    const task = ((await run('ann', q)).data as any).tasks.edges[0].node;
    await gqlOk(
      t.gatewayUrl,
      `mutation($id: ID!, $v: Int!) { updateTask(id: $id, expectedVersion: $v, input: { title: "renamed again" }) { id } }`,
      { id: task.id, v: task.version },
      { token: users.ann.token },
    );
    await settle();
    const [hits0, misses0] = [await sub('subgraph_hit'), await sub('subgraph_miss')];
    const after = await run('ann', q);
    expect(after.headers.get(CACHE)).toBe('miss');
    expect((after.data as any).tasks.edges.find((e: any) => e.node.id === task.id).node.title).toBe('renamed again');
    expect((after.data as any).tasks.edges[0].node.createdBy.name).toBe('Ann Cache');
    expect(await sub('subgraph_hit')).toBe(hits0 + 1); // identity
    expect(await sub('subgraph_miss')).toBe(misses0 + 1); // tasks

    // An identity event: now identity is asked again and tasks answers from the cache.
    expect((await run('ann', q)).headers.get(CACHE)).toBe('hit');
    bus.nc.publish(`${t.prefix}.${users.ann.orgId}.identity.User.UserLoggedIn`, '{}');
    await bus.nc.flush();
    await settle();
    const [hits1, misses1] = [await sub('subgraph_hit'), await sub('subgraph_miss')];
    expect((await run('ann', q)).headers.get(CACHE)).toBe('miss');
    expect(await sub('subgraph_hit')).toBe(hits1 + 1); // tasks
    expect(await sub('subgraph_miss')).toBe(misses1 + 1); // identity

    // Cache-Control: no-cache asks every subgraph again.
    const fresh = await gql(t.gatewayUrl, q, {}, { token: users.ann.token, headers: { 'cache-control': 'no-cache' } });
    expect(fresh.headers.get(CACHE)).toBe('bypass');
    expect(await sub('subgraph_hit')).toBe(hits1 + 1);
  });

  it('never caches answers with fields that change without an event', async () => {
    const q = `{ tasks(first: 1) { totalCount } auditLog(first: 5) { action } }`;
    const a = await run('ann', q);
    expect(a.errors).toBeUndefined();
    expect(a.headers.get(CACHE)).toBe('miss');
    expect((await run('ann', q)).headers.get(CACHE)).toBe('miss');
  });

  it('does not cache answers with errors', async () => {
    const q = `query($id: ID!) { task(id: $id) { id title } }`;
    const a = await run('ann', q, { id: 'not-a-task-id' });
    expect(a.errors?.length).toBeGreaterThan(0);
    const b = await run('ann', q, { id: 'not-a-task-id' });
    expect(b.headers.get(CACHE)).toBe('miss');
    expect(b.errors?.length).toBeGreaterThan(0);
  });

  it('reports hits, misses and stores on /metrics, and the entity fetches batching saved', async () => {
    const hits = await gatewayMetric('cos_response_cache_total', 'kind="hit"');
    await run('ann', TASKS, { first: 10 });
    await run('ann', TASKS, { first: 10 });
    expect(await gatewayMetric('cos_response_cache_total', 'kind="hit"')).toBeGreaterThan(hits);
    expect(await gatewayMetric('cos_response_cache_total', 'kind="store"')).toBeGreaterThan(0);
    // Hits are operations too: timed under their operation name.
    expect(await gatewayMetric('cos_graphql_operation_duration_seconds_count', 'operation="CachedTasks"')).toBeGreaterThan(0);
    // A page of tasks with createdBy and comment authors plans several identity entity fetches; batching sends fewer.
    const q = `query Batched { tasks(first: 10) { edges { node { createdBy { name } comments { author { name } } assignee { ... on User { name } } } } } }`;
    expect((await run('ann', q)).errors).toBeUndefined();
    const fetches = await gatewayMetric('cos_subgraph_transport_total', 'kind="entity_fetch"');
    const requests = await gatewayMetric('cos_subgraph_transport_total', 'kind="entity_request"');
    expect(fetches).toBeGreaterThan(requests);
  });
});
