import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { GraphQLError, GraphQLScalarType, parse } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@cos/logger';
import { createGateway, type Gateway } from '../src/server';
import { composeSupergraph, listen, testGatewayEnv, type Listening } from './fixtures';

/**
 * The native executor (GATEWAY_EXECUTOR=native) on plans that are easy to get wrong, against subgraphs of this file
 * served over HTTP: every answer is compared with @apollo/gateway's executor on the same gateway stack, and the
 * behaviour that matters is asserted on its own (null propagation, error paths, abstract types, @requires, dedup).
 */

const PEOPLE_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])
  type Person @key(fields: "id") {
    id: ID!
    name: String!
    nickname: String
    rate: Int
  }
`;

const BOARD_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires"])
  type Query {
    items: [Item!]!
    tasks(flag: Boolean): [Task!]!
  }
  interface Item {
    id: ID!
    title: String!
  }
  type Task implements Item @key(fields: "id") {
    id: ID!
    title: String!
    hours: Int!
    owner: Person!
    reviewer: Person
    cost: Int @requires(fields: "owner { rate }")
  }
  type Note implements Item {
    id: ID!
    title: String!
    text: String
    meta: JSON
  }
  scalar JSON
  type Person @key(fields: "id") {
    id: ID!
    rate: Int @external
  }
`;

const people: Record<string, { id: string; name: string | null; nickname: string | null; rate: number }> = {
  p1: { id: 'p1', name: 'Ada', nickname: 'ada', rate: 10 },
  p2: { id: 'p2', name: null, nickname: null, rate: 20 }, // a broken record: name is non-null in the schema
};

const tasks = [
  { id: 't1', title: 'one', hours: 2, owner: 'p1', reviewer: 'p2' },
  { id: 't2', title: 'two', hours: 3, owner: 'p1', reviewer: 'p1' },
  { id: 't3', title: 'three', hours: 5, owner: 'p1', reviewer: null },
];

let representationsSeen: number[] = [];

async function startPeople(): Promise<Listening> {
  const schema = buildSubgraphSchema([
    {
      typeDefs: parse(PEOPLE_SDL),
      resolvers: {
        Person: {
          __resolveReference: (ref: { id: string }) => people[ref.id] ?? null,
          name: (p: { id: string; name: string | null }) => {
            if (p.name === null) throw new GraphQLError(`person ${p.id} has no name`, { extensions: { code: 'NOT_FOUND' } });
            return p.name;
          },
        },
      },
    },
  ]);
  const yoga = createYoga({
    schema,
    logging: false,
    maskedErrors: false,
    plugins: [
      {
        onParams({ params }) {
          const reps = (params.variables as { representations?: unknown[] } | undefined)?.representations;
          if (reps) representationsSeen.push(reps.length);
        },
      },
    ],
  });
  return listen(yoga);
}

async function startBoard(): Promise<Listening> {
  const schema = buildSubgraphSchema([
    {
      typeDefs: parse(BOARD_SDL),
      resolvers: {
        Query: {
          items: () => [
            { __typename: 'Task', ...tasks[0] },
            { __typename: 'Note', id: 'n1', title: 'a note', text: 'hello', meta: { tags: [{ name: 'a' }, { name: 'b' }], owner: { id: 'p1' } } },
          ],
          tasks: () => tasks,
        },
        Item: { __resolveType: (o: { __typename: string }) => o.__typename },
        // A custom scalar whose values are objects: the shaped answer holds them by reference (shape.ts validLeaf).
        JSON: new GraphQLScalarType({ name: 'JSON', serialize: (v) => v }),
        Task: {
          __resolveReference: (ref: { id: string; owner?: { rate: number } }) => {
            const t = tasks.find((x) => x.id === ref.id);
            return t ? { ...t, ownerRate: ref.owner?.rate } : null;
          },
          owner: (t: { owner: string }) => ({ id: t.owner }),
          reviewer: (t: { reviewer: string | null }) => (t.reviewer ? { id: t.reviewer } : null),
          cost: (t: { hours: number; ownerRate?: number }) => (t.ownerRate === undefined ? null : t.hours * t.ownerRate),
        },
      },
    },
  ]);
  return listen(createYoga({ schema, logging: false, maskedErrors: false }));
}

let peopleSg: Listening;
let boardSg: Listening;
let redis: Redis;
const gateways: Record<'native' | 'apollo', { gateway: Gateway; http: Listening }> = {} as never;

beforeAll(async () => {
  [peopleSg, boardSg] = await Promise.all([startPeople(), startBoard()]);
  const dir = await mkdtemp(path.join(tmpdir(), 'gw-native-'));
  const supergraphPath = path.join(dir, 'supergraph.graphql');
  await writeFile(
    supergraphPath,
    composeSupergraph([
      { name: 'people', url: `${peopleSg.url}/graphql`, typeDefs: PEOPLE_SDL },
      { name: 'board', url: `${boardSg.url}/graphql`, typeDefs: BOARD_SDL },
    ]),
  );
  redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  for (const executor of ['native', 'apollo'] as const) {
    const gateway = await createGateway({
      env: testGatewayEnv({ supergraphPath, jwksUrl: 'http://127.0.0.1:9/jwks.json', GATEWAY_EXECUTOR: executor, REDIS_PREFIX: `test:${randomBytes(4).toString('hex')}:` }),
      log: createLogger('native-executor-test', 'silent'),
      redis,
      rateLimit: { enabled: false },
    });
    gateways[executor] = { gateway, http: await listen(gateway.yoga) };
  }
});

afterAll(async () => {
  for (const g of Object.values(gateways)) {
    await g.http.close();
    await g.gateway.close();
  }
  redis?.disconnect();
  await Promise.all([peopleSg?.close(), boardSg?.close()]);
});

type Body = { data?: Record<string, unknown> | null; errors?: Array<{ message: string; path?: unknown[]; extensions?: Record<string, unknown> }>; extensions?: Record<string, unknown> };

async function ask(executor: 'native' | 'apollo', query: string, variables?: Record<string, unknown>): Promise<Body> {
  const res = await fetch(`${gateways[executor].http.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as Body;
}

/** The native answer, after checking @apollo/gateway's executor gives the same data and errors (message, path, code). */
async function both(query: string, variables?: Record<string, unknown>): Promise<Body> {
  const [native, apollo] = [await ask('native', query, variables), await ask('apollo', query, variables)];
  expect(JSON.stringify(native.data)).toBe(JSON.stringify(apollo.data)); // same keys in the same order
  const errs = (b: Body) => (b.errors ?? []).map((e) => ({ message: e.message, path: e.path, code: e.extensions?.code }));
  expect(errs(native)).toEqual(errs(apollo));
  return native;
}

describe('native executor', () => {
  it('is the default and the apollo one stays selectable', () => {
    expect(gateways.native.gateway.executor).toBe('native');
    expect(gateways.apollo.gateway.executor).toBe('apollo');
  });

  it('shapes abstract types: fragments per runtime type, __typename, aliases, document order', async () => {
    const r = await both(`{
      items {
        kind: __typename
        ... on Task { hours id owner { who: name } }
        ... on Note { text }
        title
        ... on Item { id }
      }
    }`);
    expect(r.data).toEqual({
      items: [
        { kind: 'Task', hours: 2, id: 't1', owner: { who: 'Ada' }, title: 'one' },
        { kind: 'Note', text: 'hello', title: 'a note', id: 'n1' },
      ],
    });
    expect(Object.keys((r.data!.items as object[])[0]!)).toEqual(['kind', 'hours', 'id', 'owner', 'title']);
  });

  it('propagates a null in a non-null position to the nearest nullable parent; the error path is the client’s', async () => {
    const r = await both(`{ tasks { id reviewer { id name } } }`);
    const list = r.data!.tasks as Array<{ id: string; reviewer: unknown }>;
    // t1's reviewer p2 has no name (Person.name: String!): reviewer becomes null, the task stays.
    expect(list.map((t) => t.reviewer)).toEqual([null, { id: 'p1', name: 'Ada' }, null]);
    expect(r.errors).toHaveLength(1);
    expect(r.errors![0]!.path).toEqual(['tasks', 0, 'reviewer', 'name']);
    expect(r.errors![0]!.extensions?.code).toBe('NOT_FOUND');
  });

  it('nulls the whole list when an element of a [T!]! position is null, up to data', async () => {
    // owner is Person! and every owner has a name: nothing to null. reviewer is nullable: p2's missing name stops there.
    const r = await both(`{ tasks { id owner { name } } }`);
    expect(r.data).toEqual({ tasks: [{ id: 't1', owner: { name: 'Ada' } }, { id: 't2', owner: { name: 'Ada' } }, { id: 't3', owner: { name: 'Ada' } }] });
    const broken = await both(`{ items { ... on Task { reviewer { name } } } tasks { reviewer { name } } }`);
    expect(broken.data).toEqual({ items: [{ reviewer: null }, {}], tasks: [{ reviewer: null }, { reviewer: { name: 'Ada' } }, { reviewer: null }] });
  });

  it('fetches @requires inputs from the other subgraph before resolving the field', async () => {
    const r = await both(`{ tasks { id cost } }`);
    expect(r.data).toEqual({ tasks: [{ id: 't1', cost: 20 }, { id: 't2', cost: 30 }, { id: 't3', cost: 50 }] });
  });

  it('answers object values of custom scalars whole, request after request (the merged tree is released only after the text)', async () => {
    const meta = { tags: [{ name: 'a' }, { name: 'b' }], owner: { id: 'p1' } };
    for (let i = 0; i < 3; i++) {
      const r = await both(`{ items { ... on Note { meta } } }`);
      expect(r.data).toEqual({ items: [{}, { meta }] });
    }
  });

  it('sends each distinct entity once per fetch', async () => {
    representationsSeen = [];
    await ask('native', `{ tasks { owner { nickname } } }`);
    // Three tasks, one owner (p1): one representation, not three.
    expect(representationsSeen).toEqual([1]);
  });

  it('applies @skip/@include with variables, defaults included', async () => {
    const q = `query ($withOwner: Boolean = false, $noTitle: Boolean!) { tasks { id title @skip(if: $noTitle) owner @include(if: $withOwner) { nickname } } }`;
    const a = await both(q, { noTitle: true });
    expect((a.data!.tasks as object[])[0]).toEqual({ id: 't1' });
    const b = await both(q, { noTitle: false, withOwner: true });
    expect((b.data!.tasks as object[])[0]).toEqual({ id: 't1', title: 'one', owner: { nickname: 'ada' } });
  });

  it('refuses variables that do not coerce with BAD_USER_INPUT naming the variable', async () => {
    const r = await ask('native', `query ($f: Boolean) { tasks(flag: $f) { id } }`, { f: 'yes' });
    expect(r.data ?? null).toBeNull();
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'f' });
  });

  it('answers __typename and introspection at the root without a subgraph', async () => {
    const r = await both(`{ __typename t: __type(name: "Task") { name } }`);
    expect(r.data).toEqual({ __typename: 'Query', t: { name: 'Task' } });
  });
});
