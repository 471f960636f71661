import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '@cos/auth';
import { parseSearchArgs, searchKey } from '@cos/service-kit';
import { rebuild } from '../../../scripts/rebuild';
import { eventStore, READ_MODEL_TABLES } from '../src/projector';
import { CREATE, createHarness, type Harness } from './harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
}, 60_000);
afterAll(() => h?.close());

const ERASE = `mutation($c: ID!, $k: ID!) { eraseCustomerContact(customerId: $c, contactId: $k) { id contacts { id name email } } }`;
const CUSTOMER = `query($id: ID!) { customer(id: $id) { id name contacts { id name email } } }`;
const SEARCH = `query($r: [_Any!]!) { _entities(representations: $r) { ... on SearchResults { customerMatches { totalCount matches { id type } } } } }`;

type Created = { createCustomer: { id: string; contacts: Array<{ id: string; name: string; email: string | null }> } };

async function search(p: Principal, query: string) {
  const r = await h.gql<{ _entities: Array<{ customerMatches: { totalCount: number; matches: Array<{ id: string; type: string }> } }> }>(p, SEARCH, {
    r: [{ __typename: 'SearchResults', id: searchKey(parseSearchArgs({ query })) }],
  });
  expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
  return r.data!._entities[0]!.customerMatches;
}

const rawEventsContaining = async (text: string) =>
  (await h.systemDb.tx({ orgId: null }, (tx) => tx.query(`SELECT id FROM events WHERE data::text ILIKE '%' || $1 || '%'`, [text]))).length;

describe('eraseCustomerContact', () => {
  it('contacts are encrypted in events; erasing one removes it from the graph, the search and a rebuild', async () => {
    const owner = h.user('OWNER');
    const c = (
      await h.ok<Created>(owner, CREATE, {
        input: { name: 'Gdpr Gmbh', contacts: [{ name: 'Quirin Quarz', email: 'quirin@gdpr.example' }, { name: 'Rosa Rest', email: 'rosa@gdpr.example' }] },
      })
    ).createCustomer;
    const [quirin, rosa] = c.contacts;
    expect(await rawEventsContaining('Quirin')).toBe(0);
    expect(await rawEventsContaining('quirin@gdpr.example')).toBe(0);
    expect(await rawEventsContaining('Gdpr Gmbh')).toBe(1); // a company, not a person: stored as it is
    expect((await search(owner, 'quirin')).totalCount).toBe(1);

    const r = await h.ok<{ eraseCustomerContact: { contacts: Array<{ id: string }> } }>(owner, ERASE, { c: c.id, k: quirin!.id });
    expect(r.eraseCustomerContact.contacts).toEqual([{ id: rosa!.id, name: 'Rosa Rest', email: 'rosa@gdpr.example' }]);
    expect((await search(owner, 'quirin')).totalCount).toBe(0);
    expect((await search(owner, 'rosa')).totalCount).toBe(1);

    const rebuilt = await rebuild('customers', h.testDb.adminUrl, { projections: { READ_MODEL_TABLES, eventStore } });
    expect(rebuilt.events).toBeGreaterThan(0);
    const after = await h.ok<{ customer: { contacts: Array<{ id: string }> } }>(owner, CUSTOMER, { id: c.id });
    expect(after.customer.contacts.map((x) => x.id)).toEqual([rosa!.id]);
    expect((await search(owner, 'quirin')).totalCount).toBe(0);
    const rows = await h.systemDb.tx({ orgId: null }, (tx) => tx.query(`SELECT 1 FROM contacts WHERE name ILIKE '%quirin%' OR email ILIKE '%quirin%'`));
    expect(rows).toHaveLength(0);

    // erased already: NOT_FOUND
    expect((await h.gql(owner, ERASE, { c: c.id, k: quirin!.id })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('OWNER only; another organization’s OWNER gets NOT_FOUND and the contact keeps its key', async () => {
    const owner = h.user('OWNER');
    const c = (await h.ok<Created>(owner, CREATE, { input: { name: 'Safe AG', contacts: [{ name: 'Sam Safe', email: 'sam@safe.example' }] } })).createCustomer;
    const contactId = c.contacts[0]!.id;
    for (const role of ['ADMIN', 'MEMBER'] as const) {
      const r = await h.gql(h.user(role, owner.orgId), ERASE, { c: c.id, k: contactId });
      expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    const intruder = h.user('OWNER');
    const r = await h.gql(intruder, ERASE, { c: c.id, k: contactId });
    expect(r.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const keys = await h.systemDb.tx({ orgId: null }, (tx) => tx.query(`SELECT 1 FROM pii_keys WHERE subject_id = $1 AND wrapped_key IS NOT NULL`, [contactId]));
    expect(keys).toHaveLength(1);
    const still = await h.ok<{ customer: { contacts: Array<{ name: string }> } }>(owner, CUSTOMER, { id: c.id });
    expect(still.customer.contacts).toEqual([{ id: contactId, name: 'Sam Safe', email: 'sam@safe.example' }]);
  });
});
