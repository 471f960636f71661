/**
 * The customers subgraph's part of Query.search with real Postgres: `SearchResults.customerMatches` (as the gateway
 * fetches it through _entities) ranks the org's customers and contacts, highlights, paginates with the shared
 * cursor, and never crosses organizations.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '@cos/auth';
import { parseSearchArgs, searchKey } from '@cos/service-kit';
import { CREATE, createHarness, type Harness } from './harness';

let h: Harness;
let A: Principal & { orgId: string };
let B: Principal & { orgId: string };
const ids = { quince: '', alice: '', bert: '', other: '', bQuince: '' };

interface Match { type: string; id: string; rank: number; title: string; highlight: string; customerId: string | null }
const QUERY = `query($r: [_Any!]!) { _entities(representations: $r) { ... on SearchResults {
  customerMatches { totalCount matches { type id rank title highlight customerId } } } } }`;

async function matches(p: Principal, args: { query: string; types?: string[]; first?: number; after?: string }) {
  const key = searchKey(parseSearchArgs(args));
  const r = await h.gql<{ _entities: { customerMatches: { totalCount: number; matches: Match[] } }[] }>(p, QUERY, {
    r: [{ __typename: 'SearchResults', id: key }],
  });
  expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
  return r.data!._entities[0]!.customerMatches;
}

beforeAll(async () => {
  h = await createHarness();
  A = h.user('OWNER');
  B = h.user('OWNER');
  const create = async (p: Principal, input: Record<string, unknown>) =>
    (await h.ok<{ createCustomer: { id: string; contacts: { id: string }[] } }>(p, CREATE, { input })).createCustomer;
  const quince = await create(A, {
    name: 'Quince Industries',
    domain: 'quince.example',
    plan: 'enterprise',
    contacts: [{ name: 'Alice Quince', email: 'alice@quince.example' }, { name: 'Bert Brown', email: 'bert@quince.example' }],
  });
  ids.quince = quince.id;
  ids.alice = quince.contacts[0]!.id;
  ids.bert = quince.contacts[1]!.id;
  ids.other = (await create(A, { name: 'Orchard Co', plan: 'quince tier' })).id;
  ids.bQuince = (await create(B, { name: 'Quince of B', contacts: [{ name: 'Quincy B', email: 'q@b.example' }] })).id;
});
afterAll(async () => h?.close());

describe('customerMatches', () => {
  it('ranks a name match above a plan match and finds contacts, with highlights', async () => {
    const r = await matches(A, { query: 'quince' });
    expect(r.totalCount).toBe(4); // Quince Industries, Orchard (plan), Alice Quince, Bert (email domain)
    const byId = new Map(r.matches.map((m) => [m.id, m]));
    expect(byId.get(ids.quince)).toMatchObject({ type: 'CUSTOMER', title: 'Quince Industries', customerId: ids.quince });
    expect(byId.get(ids.quince)!.highlight).toContain('<mark>Quince</mark> Industries');
    // Name and address (weights A and B) above the plan alone (weight C).
    expect(r.matches.at(-1)!.id).toBe(ids.other);
    expect(byId.get(ids.other)!.rank).toBeLessThan(byId.get(ids.quince)!.rank);
    expect(byId.get(ids.alice)).toMatchObject({ type: 'CONTACT', customerId: ids.quince });
    const ranks = r.matches.map((m) => m.rank);
    expect([...ranks].sort((a, b) => b - a)).toEqual(ranks);
  });

  it('finds a contact by the local part of the email address', async () => {
    const r = await matches(A, { query: 'bert', types: ['CONTACT'] });
    expect(r.matches.map((m) => m.id)).toEqual([ids.bert]);
  });

  it('returns first + 1 matches so the merge knows whether more follow, and honours the cursor', async () => {
    const r = await matches(A, { query: 'quince', first: 1 });
    expect(r.matches).toHaveLength(2);
    const after = Buffer.from(JSON.stringify([r.matches[0]!.rank, `${r.matches[0]!.type}:${r.matches[0]!.id}`])).toString('base64url');
    const next = await matches(A, { query: 'quince', first: 10, after });
    expect(next.matches.map((m) => m.id)).not.toContain(r.matches[0]!.id);
    expect(next.matches).toHaveLength(3);
  });

  it('types without customers or contacts search nothing here', async () => {
    expect(await matches(A, { query: 'quince', types: ['TASK', 'COMMENT'] })).toEqual({ totalCount: 0, matches: [] });
  });

  it('org isolation: A never sees B’s customers or contacts', async () => {
    const a = await matches(A, { query: 'quince quincy', first: 50 });
    expect(JSON.stringify(a)).not.toContain(ids.bQuince);
    expect(JSON.stringify(a)).not.toContain('of B');
    const b = await matches(B, { query: 'quince', first: 50 });
    expect(b.matches.map((m) => m.customerId)).toEqual([ids.bQuince]);
  });
});
