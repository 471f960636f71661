import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '@cos/auth';
import { CREATE, createHarness, RECORD, type Harness } from './harness';

let h: Harness;
const orgs: Record<'small' | 'large', { p: Principal; ids: string[] }> = {} as never;

async function seedOrg(n: number) {
  const p = h.user('OWNER');
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { createCustomer } = await h.ok<{ createCustomer: { id: string } }>(p, CREATE, {
      input: { name: `Customer ${i}`, mrr: 100 + i, contacts: [{ name: `Ann ${i}`, email: `ann${i}@example.com` }, { name: `Bob ${i}` }] },
    });
    ids.push(createCustomer.id);
    await h.ok(p, RECORD, { id: createCustomer.id, input: { kind: 'PRODUCT_USAGE', value: (i % 10) / 10 } });
    await h.ok(p, RECORD, { id: createCustomer.id, input: { kind: 'NPS', value: i % 11 } });
  }
  return { p, ids };
}

beforeAll(async () => {
  h = await createHarness();
  orgs.small = await seedOrg(5);
  orgs.large = await seedOrg(50);
}, 120_000);
afterAll(async () => {
  await h?.close();
});

/** Runs an operation and returns its data and the SQL statements it ran through the runtime Db. */
async function counted<T>(p: Principal, query: string, variables?: Record<string, unknown>) {
  const statements: string[] = [];
  const off = h.db.onQuery((e) => statements.push(e.sql));
  try {
    const data = await h.ok<T>(p, query, variables);
    return { data, statements };
  } finally {
    off();
  }
}

const name = (sql: string) => /\/\*\s*(\w+)\s*\*\//.exec(sql)?.[1] ?? sql.slice(0, 40);

const SELECTION = `id name mrr churnRisk owner { id } healthScore { score grade factors { name weight value } }
  healthHistory(last: 5) { score computedAt } recent: healthHistory(last: 1) { score } contacts { id name email }`;

describe('DataLoader batching: constant statements per request', () => {
  it('customers list with health, history and contacts: same statements for 5 and 50 customers', async () => {
    const q = `{ customers(first: 100) { totalCount edges { node { ${SELECTION} } } } }`;
    type R = { customers: { totalCount: number; edges: { node: { contacts: unknown[]; healthHistory: unknown[]; recent: unknown[] } }[] } };
    const small = await counted<R>(orgs.small.p, q);
    const large = await counted<R>(orgs.large.p, q);
    expect(small.data.customers.totalCount).toBe(5);
    expect(large.data.customers.totalCount).toBe(50);
    for (const edge of large.data.customers.edges) {
      expect(edge.node.contacts).toHaveLength(2);
      expect(edge.node.healthHistory).toHaveLength(2);
      expect(edge.node.recent).toHaveLength(1);
    }
    expect(small.statements.map(name).sort()).toEqual(large.statements.map(name).sort());
    expect(large.statements.map(name).sort()).toEqual(['getContactsByCustomerIds', 'getHealthHistories', 'listCustomers']);
  });

  it('entity references (_entities) resolve in one statement per type for 5 and 50 representations', async () => {
    const q = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { ${SELECTION} } } }`;
    const reps = (ids: string[]) => ids.map((id) => ({ __typename: 'Customer', id }));
    type R = { _entities: ({ id: string } | null)[] };
    const small = await counted<R>(orgs.small.p, q, { r: reps(orgs.small.ids) });
    const large = await counted<R>(orgs.large.p, q, { r: reps(orgs.large.ids) });
    expect(small.data._entities.map((e) => e?.id)).toEqual(orgs.small.ids);
    expect(large.data._entities.map((e) => e?.id)).toEqual(orgs.large.ids);
    expect(small.statements.map(name).sort()).toEqual(large.statements.map(name).sort());
    expect(large.statements.map(name).sort()).toEqual(['getContactsByCustomerIds', 'getCustomersByIds', 'getHealthHistories']);
  });
});
