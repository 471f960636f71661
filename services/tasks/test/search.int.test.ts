/**
 * Query.search on the tasks subgraph with real Postgres: the root field validates and keys the search; the
 * SearchResults entity (as the gateway calls it through @requires, with the customers subgraph's matches) ranks the
 * tasks and comments of the caller's org, merges them with the given customer matches, highlights and paginates.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userPrincipal } from '@cos/testing';
import type { Principal } from '@cos/auth';
import { handleIdentityEvent } from '../src/events/reactors/identity';
import { foreignEvent, startHarness, type Harness } from './helpers';

let h: Harness;
const orgA = randomUUID();
const orgB = randomUUID();
const owner = randomUUID();
const outsider = randomUUID();
const asOwner = userPrincipal(owner, orgA, 'OWNER');
const asB = userPrincipal(outsider, orgB, 'OWNER');

const ROOT = `query($q: String!, $types: [SearchType!], $first: Int, $after: String) {
  search(query: $q, types: $types, first: $first, after: $after) { __typename id } }`;
const ENTITY = `query($r: [_Any!]!) { _entities(representations: $r) { ... on SearchResults {
  totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { type id rank title highlight task { id title } comment { id body } customer { id } } } } } }`;

interface Hit {
  type: string;
  id: string;
  rank: number;
  title: string;
  highlight: string;
  task: { id: string; title: string } | null;
  comment: { id: string; body: string } | null;
  customer: { id: string } | null;
}
interface Results {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  edges: { cursor: string; node: Hit }[];
}

const noCustomers = { totalCount: 0, matches: [] };

/** What the gateway does: root field, then the entity with the customers subgraph's part. */
async function search(
  p: Principal,
  args: { q: string; types?: string[]; first?: number; after?: string },
  customerMatches: unknown = noCustomers,
): Promise<Results> {
  const root = await h.exec(p, ROOT, args);
  expect(root.errors, JSON.stringify(root.errors)).toBeUndefined();
  const r = await h.exec(p, ENTITY, { r: [{ __typename: 'SearchResults', id: root.data!.search.id, customerMatches }] });
  expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
  return r.data!._entities[0] as Results;
}

async function createTask(p: Principal, input: Record<string, unknown>): Promise<string> {
  const r = await h.exec(p, `mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }`, { i: input });
  expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
  return r.data!.createTask.id;
}

let titleHit: string;
let descriptionHit: string;
let commentTask: string;
let commentId: string;
let xssTask: string;
const customerId = randomUUID();

beforeAll(async () => {
  h = await startHarness();
  await h.react(handleIdentityEvent, foreignEvent(orgA, 'Organization', 'MemberJoined', { organizationId: orgA, userId: owner, name: 'Olive', role: 'OWNER' }));
  await h.react(handleIdentityEvent, foreignEvent(orgB, 'Organization', 'MemberJoined', { organizationId: orgB, userId: outsider, name: 'Bob', role: 'OWNER' }));
  // "kumquat" in a title (weight A) must outrank "kumquat" in a description (weight B).
  descriptionHit = await createTask(asOwner, { title: 'Quarterly review', description: 'Bring the kumquat numbers and the slides' });
  titleHit = await createTask(asOwner, { title: 'Kumquat renewal', description: 'Call them before Friday', customerId });
  commentTask = await createTask(asOwner, { title: 'Onboarding call' });
  const c = await h.exec(asOwner, `mutation($t: ID!) { addComment(taskId: $t, body: "They asked about kumquat pricing twice") { id } }`, { t: commentTask });
  commentId = c.data!.addComment.id;
  xssTask = await createTask(asOwner, { title: 'Escape <script>alert(1)</script> zebrafish 5 < 6 & "co"' });
  for (let i = 0; i < 7; i++) await createTask(asOwner, { title: `Mango batch ${i}`, description: i % 2 ? 'mango mango' : 'mango' });
  // Org B has the same words: none of it may ever show up for A.
  await createTask(asB, { title: 'Kumquat renewal of B', description: 'kumquat kumquat' });
  await createTask(asB, { title: 'Mango for B' });
});
afterAll(async () => h?.close());

describe('search: ranking and highlights', () => {
  it('finds tasks and comments of the org, title matches first, with highlights and the linked entities', async () => {
    const r = await search(asOwner, { q: 'kumquat' });
    expect(r.totalCount).toBe(3);
    const ids = r.edges.map((e) => e.node.id);
    expect(new Set(ids)).toEqual(new Set([titleHit, descriptionHit, commentId]));
    expect(ids[0]).toBe(titleHit);
    const ranks = r.edges.map((e) => e.node.rank);
    expect([...ranks].sort((a, b) => b - a)).toEqual(ranks);
    for (const rank of ranks) expect(rank).toBeGreaterThan(0);
    const top = r.edges[0]!.node;
    expect(top).toMatchObject({ type: 'TASK', title: 'Kumquat renewal', task: { id: titleHit }, customer: { id: customerId }, comment: null });
    expect(top.highlight).toContain('<mark>Kumquat</mark>');
    const comment = r.edges.find((e) => e.node.type === 'COMMENT')!.node;
    expect(comment).toMatchObject({ id: commentId, title: 'Onboarding call', task: { id: commentTask }, comment: { id: commentId } });
    expect(comment.highlight).toContain('<mark>kumquat</mark> pricing');
  });

  it('stems words and takes web-search syntax (phrases, -exclusions)', async () => {
    expect((await search(asOwner, { q: 'kumquats' })).totalCount).toBe(3);
    const phrase = await search(asOwner, { q: '"kumquat pricing"' });
    expect(phrase.edges.map((e) => e.node.id)).toEqual([commentId]);
    const without = await search(asOwner, { q: 'kumquat -renewal' });
    expect(without.edges.map((e) => e.node.id)).not.toContain(titleHit);
    expect(without.totalCount).toBe(2);
  });

  it('highlights are HTML-escaped: stored markup never comes back as markup', async () => {
    const r = await search(asOwner, { q: 'zebrafish' });
    expect(r.edges.map((e) => e.node.id)).toEqual([xssTask]);
    const hl = r.edges[0]!.node.highlight;
    expect(hl).not.toContain('<script>');
    expect(hl).toContain('<mark>zebrafish</mark> 5 &lt; 6 &amp; &quot;co&quot;');
    // The only markup is <mark>.
    expect(hl.replace(/<\/?mark>/g, '')).not.toMatch(/[<>]/);
  });

  it('types narrows the search', async () => {
    const r = await search(asOwner, { q: 'kumquat', types: ['COMMENT'] });
    expect(r.edges.map((e) => e.node.type)).toEqual(['COMMENT']);
    expect(r.totalCount).toBe(1);
    const none = await search(asOwner, { q: 'kumquat', types: ['CUSTOMER'] });
    expect(none).toMatchObject({ totalCount: 0, edges: [] });
  });

  it('stop words only or no match: empty, not an error', async () => {
    expect(await search(asOwner, { q: 'the and of' })).toMatchObject({ totalCount: 0, edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    expect((await search(asOwner, { q: 'nonexistentword' })).totalCount).toBe(0);
  });
});

describe('search: merged with the customers subgraph’s matches', () => {
  it('interleaves the given customer matches by rank and counts them', async () => {
    const own = await search(asOwner, { q: 'kumquat' });
    const [first, second] = own.edges.map((e) => e.node.rank);
    const between = (first! + second!) / 2;
    const cust = randomUUID();
    const contact = randomUUID();
    const r = await search(asOwner, { q: 'kumquat' }, {
      totalCount: 5,
      matches: [
        { type: 'CUSTOMER', id: cust, rank: 0.99, title: 'Kumquat Ltd', highlight: '<mark>Kumquat</mark> Ltd', customerId: cust },
        { type: 'CONTACT', id: contact, rank: between, title: 'Kim Kumquat', highlight: 'Kim <mark>Kumquat</mark>', customerId: cust },
        // Not the customers subgraph's to give: dropped.
        { type: 'TASK', id: randomUUID(), rank: 1, title: 'forged', highlight: 'forged', customerId: null },
      ],
    });
    expect(r.totalCount).toBe(3 + 5);
    expect(r.edges.map((e) => e.node.id)).toEqual([cust, titleHit, contact, ...own.edges.slice(1).map((e) => e.node.id)]);
    expect(r.edges[0]!.node).toMatchObject({ type: 'CUSTOMER', customer: { id: cust }, task: null });
    expect(r.edges[2]!.node).toMatchObject({ type: 'CONTACT', customer: { id: cust } });
  });
});

describe('search: pagination', () => {
  it('pages by cursor without overlap or gaps, in rank order', async () => {
    const all = await search(asOwner, { q: 'mango', first: 50 });
    expect(all.totalCount).toBe(7);
    const seen: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 5; page++) {
      const r = await search(asOwner, { q: 'mango', first: 3, ...(after ? { after } : {}) });
      expect(r.totalCount).toBe(7);
      seen.push(...r.edges.map((e) => e.node.id));
      expect(r.pageInfo.endCursor).toBe(r.edges.at(-1)?.cursor ?? null);
      if (!r.pageInfo.hasNextPage) break;
      after = r.pageInfo.endCursor!;
    }
    expect(seen).toEqual(all.edges.map((e) => e.node.id));
    expect(new Set(seen).size).toBe(7);
  });
});

describe('search: bad input', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['empty query', { q: '' }, 'query'],
    ['blank query', { q: '   ' }, 'query'],
    ['oversized query', { q: 'x'.repeat(201) }, 'query'],
    ['NUL in query', { q: 'a\u0000b' }, 'query'],
    ['lone surrogate', { q: 'a\uD800b' }, 'query'],
    ['first 0', { q: 'mango', first: 0 }, 'first'],
    ['first 51', { q: 'mango', first: 51 }, 'first'],
    ['empty types', { q: 'mango', types: [] }, 'types'],
    ['garbage cursor', { q: 'mango', after: 'not-a-cursor' }, 'after'],
    ['cursor of tasks()', { q: 'mango', after: Buffer.from(JSON.stringify(['2024-01-01T00:00:00Z', randomUUID()])).toString('base64url') }, 'after'],
  ];
  for (const [name, vars, field] of cases) {
    it(`${name} → BAD_USER_INPUT on ${field}`, async () => {
      const r = await h.exec(asOwner, ROOT, vars);
      expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(r.errors?.[0]?.message).not.toMatch(/select|tsquery|syntax/i);
    });
  }

  it('tsquery operators in the text are data, not syntax errors', async () => {
    for (const q of ["'", '& | ! ( )', 'a:*', '\\', '"unbalanced', 'OR OR -', ') drop table tasks; --']) {
      const root = await h.exec(asOwner, ROOT, { q });
      expect(root.errors, q).toBeUndefined();
      const r = await h.exec(asOwner, ENTITY, { r: [{ __typename: 'SearchResults', id: root.data!.search.id, customerMatches: noCustomers }] });
      expect(r.errors, `${q}: ${JSON.stringify(r.errors)}`).toBeUndefined();
    }
  });

  it('a forged entity key is BAD_USER_INPUT, not a crash', async () => {
    const r = await h.exec(asOwner, ENTITY, { r: [{ __typename: 'SearchResults', id: 'bm9wZQ', customerMatches: noCustomers }] });
    expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('anonymous callers are UNAUTHENTICATED', async () => {
    const r = await h.exec({ kind: 'anonymous' } as Principal, ROOT, { q: 'mango' });
    expect(r.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('search: tenant isolation', () => {
  it('org A never sees org B’s tasks, and B sees only its own', async () => {
    const a = await search(asOwner, { q: 'kumquat', first: 50 });
    const b = await search(asB, { q: 'kumquat', first: 50 });
    expect(b.totalCount).toBe(1);
    expect(b.edges[0]!.node.title).toBe('Kumquat renewal of B');
    const aIds = new Set(a.edges.map((e) => e.node.id));
    for (const e of b.edges) expect(aIds.has(e.node.id)).toBe(false);
    expect(JSON.stringify(a)).not.toContain('of B');
    // The same key answered for B is B's search: the key carries the arguments, never the org.
    const root = await h.exec(asOwner, ROOT, { q: 'mango' });
    const asBWithAKey = await h.exec(asB, ENTITY, { r: [{ __typename: 'SearchResults', id: root.data!.search.id, customerMatches: noCustomers }] });
    expect(asBWithAKey.data!._entities[0].edges.map((e: { node: Hit }) => e.node.title)).toEqual(['Mango for B']);
  });

  it('row-level security alone hides B’s rows (runtime role, tenant A, no org filter)', async () => {
    const n = await h.db.tx({ orgId: orgA }, (tx) =>
      tx.one<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE search @@ websearch_to_tsquery('english', 'kumquat')`),
    );
    expect(n!.n).toBe(2);
  });
});
