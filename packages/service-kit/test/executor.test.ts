import DataLoader from 'dataloader';
import { describe, expect, it } from 'vitest';
import { badInput } from '@cos/errors';
import { createLogger } from '@cos/logger';
import { TEST_INTERNAL_SECRET, execSubgraph, userPrincipal } from '@cos/testing';
import { createSubgraphServer, type BaseContext } from '../src/index';

/**
 * The subgraphs execute through graphql-jit. Whatever it answers must be what graphql-js (the reference executor)
 * answers: the same data, the same errors with the same paths and codes, for the shapes our subgraphs serve —
 * federation `_entities` with union resolution and batched __resolveReference, interfaces and unions, enums,
 * lists with nulls, null propagation from a non-null field, our own errors and masked unexpected ones, aliases,
 * fragments, directives and variables.
 */
const typeDefs = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@shareable"])
  enum Status { OPEN DONE }
  interface Node { id: ID! }
  type User implements Node @key(fields: "id") { id: ID! name: String! tasks(first: Int = 2): [Task!]! }
  type Agent implements Node @key(fields: "id") { id: ID! name: String! kind: String! }
  union Assignee = User | Agent
  type Comment { id: ID! body: String! author: User }
  type Task implements Node @key(fields: "id") {
    id: ID!
    title: String!
    status: Status!
    dueAt: String
    assignee: Assignee
    comments: [Comment!]!
    tags: [String]!
    strict: String!
    secret: String
    mine: String
  }
  type Query { tasks(first: Int!, status: Status): [Task!]!  node(id: ID!): Node  task(id: ID!): Task }
`;

interface Row {
  id: string;
  title: string;
  status: 'OPEN' | 'DONE';
  dueAt: string | null;
  assignee: { kind: 'User' | 'Agent'; id: string } | null;
}
const users = new Map([1, 2, 3].map((i) => [`u${i}`, { id: `u${i}`, name: `User ${i}` }]));
const agents = new Map([1, 2].map((i) => [`a${i}`, { id: `a${i}`, name: `Agent ${i}`, kind: 'research' }]));
const rows: Row[] = Array.from({ length: 12 }, (_, i) => ({
  id: `t${i}`,
  title: `Task ${i}`,
  status: i % 3 ? 'OPEN' : 'DONE',
  dueAt: i % 2 ? `2026-01-${String(i + 1).padStart(2, '0')}` : null,
  assignee: i % 4 === 3 ? null : i % 4 === 2 ? { kind: 'Agent', id: `a${(i % 2) + 1}` } : { kind: 'User', id: `u${(i % 3) + 1}` },
}));

type Ctx = BaseContext & { users: DataLoader<string, { id: string; name: string } | null> };

/** Sizes of the users DataLoader's batches, per server. */
const batchLog: Record<'jit' | 'graphql-js', number[]> = { jit: [], 'graphql-js': [] };

const server = (executor: 'jit' | 'graphql-js') =>
  createSubgraphServer<Ctx>({
    name: `exec-${executor}`,
    typeDefs,
    internalSecret: TEST_INTERNAL_SECRET,
    log: createLogger('exec-test', 'silent'),
    executor,
    createContext: (base) =>
      Object.assign(base, {
        users: new DataLoader(async (ids: readonly string[]) => {
          batchLog[executor].push(ids.length);
          return ids.map((id) => users.get(id) ?? null);
        }),
      }),
    resolvers: {
      Node: { __resolveType: (o: { id: string }) => (o.id.startsWith('u') ? 'User' : o.id.startsWith('a') ? 'Agent' : 'Task') },
      Assignee: { __resolveType: (o: { id: string }) => (o.id.startsWith('u') ? 'User' : 'Agent') },
      Query: {
        tasks: (_: unknown, a: { first: number; status?: string }) => rows.filter((r) => !a.status || r.status === a.status).slice(0, a.first),
        node: (_: unknown, a: { id: string }, ctx: Ctx) =>
          a.id.startsWith('u') ? ctx.users.load(a.id) : (agents.get(a.id) ?? rows.find((r) => r.id === a.id) ?? null),
        task: (_: unknown, a: { id: string }) => rows.find((r) => r.id === a.id) ?? null,
      },
      User: {
        __resolveReference: (ref: { id: string }, ctx: Ctx) => ctx.users.load(ref.id),
        tasks: (u: { id: string }, a: { first: number }) => rows.filter((r) => r.assignee?.id === u.id).slice(0, a.first),
      },
      Agent: { __resolveReference: (ref: { id: string }) => agents.get(ref.id) ?? null },
      Task: {
        __resolveReference: (ref: { id: string }) => rows.find((r) => r.id === ref.id) ?? null,
        assignee: (t: Row, _: unknown, ctx: Ctx) => (!t.assignee ? null : t.assignee.kind === 'User' ? ctx.users.load(t.assignee.id) : agents.get(t.assignee.id)),
        comments: (t: Row) =>
          Array.from({ length: Number(t.id.slice(1)) % 3 }, (_, k) => ({ id: `${t.id}-c${k}`, body: `c${k}`, authorId: `u${k + 1}` })),
        tags: (t: Row) => [t.status.toLowerCase(), null, t.dueAt],
        // a non-null field that answers null for some rows: null propagates to the nullable parent list item
        strict: (t: Row) => (t.id === 't5' ? null : 'ok'),
        secret: (t: Row) => {
          if (t.id === 't1') throw new Error('relation "hidden" does not exist');
          return 's';
        },
        mine: (t: Row) => {
          if (t.id === 't2') throw badInput('mine', 'not yours');
          return 'm';
        },
      },
      Comment: { author: (c: { authorId: string }, _: unknown, ctx: Ctx) => ctx.users.load(c.authorId) },
    },
  });

const jit = server('jit');
const reference = server('graphql-js');
const alice = userPrincipal('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000aa', 'MEMBER');
const sign = (yoga: typeof jit.yoga) => (q: string, v?: Record<string, unknown>) => execSubgraph(yoga, alice, q, v);

/** [name, query, variables, what graphql-js answers: data only, data and errors, or errors only] */
const cases: Array<[string, string, Record<string, unknown> | undefined, 'data' | 'partial' | 'errors']> = [
  [
    'a page with unions, lists and nested loaders',
    `query Page($n: Int!, $s: Status) { tasks(first: $n, status: $s) { id title status dueAt tags
       assignee { __typename ... on User { id name tasks { id } } ... on Agent { id name kind } }
       comments { id body author { id name } } } }`,
    { n: 12 },
    'data',
  ],
  ['an enum argument', `query($s: Status) { tasks(first: 20, status: $s) { id status } }`, { s: 'DONE' }, 'data'],
  [
    '_entities with mixed representations, unknown ids and fragments',
    `query($r: [_Any!]!) { _entities(representations: $r) { __typename ...U ... on Agent { name kind } ... on Task { title status } } }
     fragment U on User { id name }`,
    {
      r: [
        { __typename: 'User', id: 'u1' },
        { __typename: 'Task', id: 't3' },
        { __typename: 'Agent', id: 'a2' },
        { __typename: 'User', id: 'nobody' },
        { __typename: 'User', id: 'u1' },
        { __typename: 'Task', id: 'missing' },
      ],
    },
    'data',
  ],
  ['interface resolution, aliases', `{ a: node(id: "u2") { id ... on User { name } } b: node(id: "a1") { id __typename } c: node(id: "zz") { id } }`, undefined, 'data'],
  ['null propagation from a non-null field', `{ a: task(id: "t5") { id strict } b: task(id: "t4") { id strict } }`, undefined, 'partial'],
  ['our own error and a masked unexpected one, with paths', `{ tasks(first: 4) { id secret mine } }`, undefined, 'partial'],
  ['@include / @skip with variables', `query($i: Boolean!) { task(id: "t4") { id title @include(if: $i) status @skip(if: $i) } }`, { i: false }, 'data'],
  ['a bad enum value in variables', `query($s: Status) { tasks(first: 1, status: $s) { id } }`, { s: 'LATER' }, 'errors'],
  ['a missing required variable', `query($n: Int!) { tasks(first: $n) { id } }`, {}, 'errors'],
  ['a wrongly typed argument value inside a list', `query($r: [_Any!]!) { _entities(representations: $r) { __typename } }`, { r: [null] }, 'errors'],
];

type Answer = Awaited<ReturnType<ReturnType<typeof sign>>>;
/**
 * What may differ: graphql-jit reports no `locations` (they point into the gateway-generated subgraph operation,
 * nothing a client could use), and words why a variable is invalid its own way ("got invalid value [null]" vs
 * "got invalid value null at "r[0]"", "Expected type Status." vs "Value "LATER" does not exist in "Status"
 * enum."): the same variable is named, with the same code. (The gateway validates variables against the supergraph
 * before planning, so only a direct subgraph caller sees these.)
 */
const comparable = (a: Answer) => ({
  data: a.data,
  errors: a.errors?.map(({ message, path, extensions }) => ({
    message: path ? message : (/^Variable "\$\w+"/.exec(message)?.[0] ?? message),
    path,
    extensions,
  })),
});

describe('graphql-jit answers what graphql-js answers', () => {
  for (const [name, query, variables, shape] of cases) {
    it(name, async () => {
      const got = await sign(jit.yoga)(query, variables);
      const want = await sign(reference.yoga)(query, variables);
      expect(comparable(got)).toEqual(comparable(want));
      // the case exercises what it says (not, say, two identical 401s)
      expect({ data: want.data != null, errors: (want.errors?.length ?? 0) > 0 }).toEqual({ data: shape !== 'errors', errors: shape !== 'data' });
    });
  }

  it('keeps DataLoader batching: the same batches as graphql-js', async () => {
    const query = `{ tasks(first: 12) { assignee { ... on User { name } } comments { author { name } } } }`;
    batchLog.jit.length = 0;
    batchLog['graphql-js'].length = 0;
    const got = await sign(jit.yoga)(query);
    const want = await sign(reference.yoga)(query);
    expect(got).toEqual(want);
    expect(batchLog['graphql-js'].length).toBeGreaterThan(0);
    expect(batchLog.jit).toEqual(batchLog['graphql-js']);
  });
});
