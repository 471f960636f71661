/**
 * Entity-fetch batching through the whole gateway: two subgraphs of the test's own — `work` (tasks, comments) and
 * `people` (users, plus a field on Task) — so that one client query plans FOUR `_entities` fetches to `people` in one
 * Parallel node (assignee, createdBy and comments.author users with two different selections, and the tasks
 * themselves). The same subgraphs serve a gateway with batching and one without, so answers can be compared.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { Redis } from 'ioredis';
import { GraphQLError, parse } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRINCIPAL_HEADER, SIGNATURE_HEADER, verifyPrincipal, type Principal } from '@cos/auth';
import { createLogger } from '@cos/logger';
import { CosDataSource } from '../src/execution/datasource';
import { createGateway, type Gateway } from '../src/server';
import { composeSupergraph, listen, SECRET, testGatewayEnv, startIssuer, type Listening, type TestIssuer } from './fixtures';

const WORK_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Task @key(fields: "id") { id: ID! title: String! assignee: User createdBy: User! comments: [Comment!]! }
  type Comment { id: ID! body: String! author: User! }
  type User @key(fields: "id", resolvable: false) { id: ID! }
  type Query { tasks: [Task!]! }
`;

const PEOPLE_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type User @key(fields: "id") { id: ID! name: String handle: String seenBy: String }
  type Task @key(fields: "id") { id: ID! watchers: Int! }
  type Query { nobody: User }
`;

const people: Record<string, string> = { ada: 'Ada', grace: 'Grace', linus: 'Linus', barbara: 'Barbara' };
// `ghost` is nobody: its representation cannot be resolved (an entity error for that one position).
const tasks = [
  { id: 't1', title: 'One', assignee: 'ada', createdBy: 'grace', comments: [{ id: 'c1', author: 'ada' }, { id: 'c2', author: 'linus' }] },
  { id: 't2', title: 'Two', assignee: 'ghost', createdBy: 'ada', comments: [{ id: 'c3', author: 'grace' }] },
  { id: 't3', title: 'Three', assignee: 'grace', createdBy: 'grace', comments: [{ id: 'c4', author: 'ghost' }, { id: 'c5', author: 'barbara' }] },
  { id: 't4', title: 'Four', assignee: null, createdBy: 'linus', comments: [] },
];

type Ctx = { principal: Principal };
type Received = { principal: Principal | null; query: string; variables: Record<string, unknown> };

/** A subgraph that refuses unsigned requests, like service-kit, and records every GraphQL request it receives. */
async function startSubgraph(typeDefs: string, resolvers: object): Promise<Listening & { received: Received[] }> {
  const schema = buildSubgraphSchema([{ typeDefs: parse(typeDefs), resolvers: resolvers as never }]);
  const yoga = createYoga<Record<string, unknown>, Ctx>({
    schema,
    logging: false,
    landingPage: false,
    maskedErrors: false,
    context: ({ request }) => {
      const v = verifyPrincipal(request.headers.get(PRINCIPAL_HEADER), request.headers.get(SIGNATURE_HEADER), SECRET);
      if (!v.ok) throw new GraphQLError('unsigned');
      return { principal: v.principal };
    },
  });
  const received: Received[] = [];
  const l = await listen(async (req, res) => {
    if (req.url?.startsWith('/graphql') && req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const raw = Buffer.concat(chunks).toString();
      const body = JSON.parse(raw) as { query: string; variables?: Record<string, unknown> };
      const v = verifyPrincipal(req.headers[PRINCIPAL_HEADER] as string, req.headers[SIGNATURE_HEADER] as string, SECRET);
      received.push({ principal: v.ok ? v.principal : null, query: body.query, variables: body.variables ?? {} });
      // yoga reads the body from the request stream, which was consumed above: hand it a fresh request.
      const response = await yoga.fetch(`http://localhost${req.url}`, {
        method: 'POST',
        headers: Object.entries(req.headers).flatMap(([k, val]) => (typeof val === 'string' ? [[k, val] as [string, string]] : [])),
        body: raw,
      });
      res.writeHead(response.status, { 'content-type': response.headers.get('content-type') ?? 'application/json' }).end(await response.text());
      return;
    }
    res.writeHead(404).end();
  });
  return Object.assign(l, { received });
}

const ORG = randomUUID();
let work: Awaited<ReturnType<typeof startSubgraph>>;
let peopleSg: Awaited<ReturnType<typeof startSubgraph>>;
let issuer: TestIssuer;
let redis: Redis;
let batched: { gateway: Gateway; http: Listening };
let unbatched: { gateway: Gateway; http: Listening };

async function startGateway(supergraphPath: string, batchEntities: boolean) {
  const gateway = await createGateway({
    env: testGatewayEnv({ supergraphPath, jwksUrl: issuer.jwksUrl, GATEWAY_BATCH_ENTITIES: batchEntities }),
    log: createLogger('entity-batching-test', 'silent'),
    redis,
  });
  return { gateway, http: await listen(gateway.yoga) };
}

beforeAll(async () => {
  work = await startSubgraph(WORK_SDL, {
    Query: { tasks: () => tasks },
    Task: {
      __resolveReference: (ref: { id: string }) => tasks.find((t) => t.id === ref.id) ?? null,
      assignee: (t: (typeof tasks)[number]) => (t.assignee ? { id: t.assignee } : null),
      createdBy: (t: (typeof tasks)[number]) => ({ id: t.createdBy }),
      comments: (t: (typeof tasks)[number]) => t.comments.map((c) => ({ ...c, body: `comment ${c.id}` })),
    },
    Comment: { author: (c: { author: string }) => ({ id: c.author }) },
  });
  peopleSg = await startSubgraph(PEOPLE_SDL, {
    Query: { nobody: () => null },
    User: {
      __resolveReference: (ref: { id: string }, ctx: Ctx) => {
        const name = people[ref.id];
        const missing = () => new GraphQLError(`No user ${ref.id}`, { extensions: { code: 'NOT_FOUND' } });
        // Thrown synchronously, the error fails @apollo/subgraph's whole `_entities` field (every representation of
        // the request), not just this one: what a careless subgraph does. `u-sync` gets that behaviour.
        if (!name && ctx.principal.kind === 'user' && ctx.principal.userId === 'u-sync') throw missing();
        return name ? { id: ref.id, name } : Promise.reject(missing());
      },
      handle: (u: { name: string }) => `@${u.name.toLowerCase()}`,
      seenBy: (_: unknown, __: unknown, ctx: Ctx) => (ctx.principal.kind === 'user' ? ctx.principal.userId : ctx.principal.kind),
    },
    Task: { __resolveReference: (ref: { id: string }) => ({ id: ref.id, watchers: Number(ref.id.slice(1)) * 10 }) },
  });
  issuer = await startIssuer();
  const dir = await mkdtemp(path.join(tmpdir(), 'gw-batch-'));
  const supergraphPath = path.join(dir, 'supergraph.graphql');
  await writeFile(
    supergraphPath,
    composeSupergraph([
      { name: 'work', url: work.url, typeDefs: WORK_SDL },
      { name: 'people', url: peopleSg.url, typeDefs: PEOPLE_SDL },
    ]),
  );
  redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  [batched, unbatched] = await Promise.all([startGateway(supergraphPath, true), startGateway(supergraphPath, false)]);
});

afterAll(async () => {
  for (const g of [batched, unbatched]) {
    await g?.http.close();
    await g?.gateway.close();
  }
  redis?.disconnect();
  await Promise.all([work?.close(), peopleSg?.close(), issuer?.close()]);
});

type GqlBody = { data?: Record<string, unknown> | null; errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, unknown> }> };

async function query(target: { http: Listening }, q: string, userId = 'u-ada') {
  const token = await issuer.sign({ sub: userId, org: ORG, role: 'MEMBER' });
  const res = await fetch(`${target.http.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: q }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as GqlBody;
}

/** Four `_entities` fetches to `people` in one Parallel node: User{name} twice, User{name handle}, Task{watchers}. */
const PAGE = /* GraphQL */ `
  {
    tasks {
      id
      title
      watchers
      assignee { name }
      createdBy { name handle }
      comments { body author { name } }
    }
  }
`;

const peopleRequestsDuring = async (fn: () => Promise<unknown>) => {
  const before = peopleSg.received.length;
  await fn();
  return peopleSg.received.slice(before);
};

const sourceOf = (g: Gateway, name: string) =>
  (g.apollo as unknown as { serviceMap: Record<string, { dataSource: unknown }> }).serviceMap[name]?.dataSource as CosDataSource;

describe('entity-fetch batching (one HTTP request per subgraph for a Parallel node of one client request)', () => {
  it('sends the four people fetches of the page as one request instead of four, with the same answer', async () => {
    let off: GqlBody | undefined;
    let on: GqlBody | undefined;
    const unbatchedRequests = await peopleRequestsDuring(async () => (off = await query(unbatched, PAGE)));
    const batchedRequests = await peopleRequestsDuring(async () => (on = await query(batched, PAGE)));

    expect(unbatchedRequests).toHaveLength(4);
    expect(batchedRequests).toHaveLength(1);
    expect(on).toEqual(off);
    // Not vacuous: the answer carries data from both subgraphs.
    const page = on?.data?.tasks as Array<Record<string, unknown>>;
    expect(page[0]).toEqual({
      id: 't1',
      title: 'One',
      watchers: 10,
      assignee: { name: 'Ada' },
      createdBy: { name: 'Grace', handle: '@grace' },
      comments: [
        { body: 'comment c1', author: { name: 'Ada' } },
        { body: 'comment c2', author: { name: 'Linus' } },
      ],
    });

    const stats = sourceOf(batched.gateway, 'people').entityBatchStats;
    expect(stats.fetches - stats.requests).toBeGreaterThanOrEqual(3);
  });

  it('sends each distinct representation once for fetches with the same selection', async () => {
    const [request] = await peopleRequestsDuring(() => query(batched, PAGE));
    const lists = Object.values(request!.variables) as Array<Array<{ __typename: string; id: string }>>;
    // User{name} (assignee + comments.author, merged), User{name handle} (createdBy), Task{watchers}.
    expect(lists).toHaveLength(3);
    for (const list of lists) expect(new Set(list.map((r) => JSON.stringify(r))).size).toBe(list.length);
    const nameList = lists.find((l) => l.length === 5)?.map((r) => r.id).sort();
    // assignees ada, ghost, grace and authors ada, linus, grace, ghost, barbara: 9 references, 5 users.
    expect(nameList).toEqual(['ada', 'barbara', 'ghost', 'grace', 'linus']);
    expect(lists.map((l) => l.length).sort()).toEqual([3, 4, 5]);
  });

  it('puts an unresolvable entity error on the right fields only, as without batching', async () => {
    const on = await query(batched, PAGE);
    const off = await query(unbatched, PAGE);
    const paths = (b: GqlBody) => (b.errors ?? []).map((e) => e.path?.join('.')).sort();
    // ghost is the assignee of t2 and the author of t3's first comment: one error for each, nothing else.
    expect(paths(on)).toEqual(['tasks.1.assignee', 'tasks.2.comments.0.author']);
    expect(paths(on)).toEqual(paths(off));
    const page = on.data?.tasks as Array<{ assignee: { name: string | null } | null; comments: Array<{ author: { name: string | null } }> }>;
    expect(page[1]?.assignee?.name ?? null).toBeNull();
    expect(page[2]?.comments[0]?.author.name ?? null).toBeNull();
    // The same merged representation answered the other callers of the ghost-free users.
    expect(page[2]?.comments[1]?.author.name).toBe('Barbara');
    expect(page[0]?.assignee?.name).toBe('Ada');
    expect(on.data).toEqual(off.data);
  });

  it('never merges the fetches of concurrent client requests of different principals', async () => {
    const q = '{ tasks { id assignee { name seenBy } createdBy { seenBy } comments { author { seenBy } } } }';
    const seen = (b: GqlBody) => {
      const out = new Set<string | null>();
      for (const t of b.data?.tasks as Array<{ assignee: { seenBy: string | null } | null; createdBy: { seenBy: string }; comments: Array<{ author: { seenBy: string | null } }> }>) {
        if (t.assignee?.seenBy) out.add(t.assignee.seenBy);
        out.add(t.createdBy.seenBy);
        for (const c of t.comments) if (c.author.seenBy) out.add(c.author.seenBy);
      }
      return [...out];
    };
    let a: GqlBody | undefined;
    let b: GqlBody | undefined;
    const requests = await peopleRequestsDuring(async () => {
      [a, b] = await Promise.all([query(batched, q, 'u-a'), query(batched, q, 'u-b')]);
    });
    expect(seen(a!)).toEqual(['u-a']);
    expect(seen(b!)).toEqual(['u-b']);
    // One request per client request, each signed by its own principal.
    expect(requests).toHaveLength(2);
    const principals = requests.map((r) => (r.principal?.kind === 'user' ? r.principal.userId : null)).sort();
    expect(principals).toEqual(['u-a', 'u-b']);
  });

  it('sends the fetches again on their own when a merged field fails as a whole, so only the failing one loses its data', async () => {
    const on = await query(batched, PAGE, 'u-sync');
    const off = await query(unbatched, PAGE, 'u-sync');
    // Without batching only the fetches holding `ghost` (assignee, comments.author) fail; createdBy and watchers stay.
    const page = off.data?.tasks as Array<{ watchers: number; createdBy: { name: string }; assignee: { name: string | null } | null }>;
    expect(page[0]?.createdBy.name).toBe('Grace');
    expect(page[0]?.watchers).toBe(10);
    expect(page[0]?.assignee?.name).toBeNull();
    expect(on.data).toEqual(off.data);
    expect((on.errors ?? []).map((e) => e.message).sort()).toEqual((off.errors ?? []).map((e) => e.message).sort());
  });
});
