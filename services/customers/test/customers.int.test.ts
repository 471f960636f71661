import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '@cos/auth';
import { CREATE, createHarness, RECORD, type Harness } from './harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

type Created = { createCustomer: { id: string } };
const createCustomer = async (p: Principal, input: Record<string, unknown>) => (await h.ok<Created>(p, CREATE, { input })).createCustomer.id;
type Score = { score: number; grade: string; computedAt: string; factors: { name: string; weight: number; value: number }[] };
const record = async (p: Principal, id: string, input: Record<string, unknown>) =>
  (await h.ok<{ recordSignal: Score }>(p, RECORD, { id, input })).recordSignal;

/** Rows the system role sees, across tenants: proves "nothing written" and what was appended. */
const systemCount = async (sql: string, params: unknown[] = []) =>
  Number((await h.systemDb.withClient((tx) => tx.one<{ n: string }>(sql, params)))!.n);

describe('createCustomer and customer(id)', () => {
  it('creates a customer with contacts and reads it back', async () => {
    const owner = h.user('OWNER');
    const ownerId = randomUUID();
    const { createCustomer: c } = await h.ok<{ createCustomer: Record<string, unknown> & { id: string } }>(owner, CREATE, {
      input: { name: 'Acme', domain: 'ACME.example', plan: 'pro', mrr: 1234.5, ownerId, contacts: [{ name: 'Ann', email: 'ann@acme.example' }, { name: 'Bob' }] },
    });
    expect(c).toMatchObject({
      name: 'Acme',
      domain: 'acme.example',
      plan: 'pro',
      churnRisk: false,
      healthScore: null,
      owner: { id: ownerId },
      contacts: [
        { name: 'Ann', email: 'ann@acme.example' },
        { name: 'Bob', email: null },
      ],
    });
    const read = await h.ok<{ customer: Record<string, unknown> }>(owner, `query($id: ID!) { customer(id: $id) { id name mrr healthHistory { score } contacts { name } } }`, { id: c.id });
    expect(read.customer).toEqual({ id: c.id, name: 'Acme', mrr: 1234.5, healthHistory: [], contacts: [{ name: 'Ann' }, { name: 'Bob' }] });
    expect(await systemCount(`SELECT count(*) AS n FROM events WHERE stream_id = $1 AND type = 'CustomerCreated'`, [`Customer-${c.id}`])).toBe(1);
  });

  it('customer(id) of an unknown id is null; a malformed id is BAD_USER_INPUT', async () => {
    const p = h.user();
    expect((await h.ok<{ customer: null }>(p, `{ customer(id: "${randomUUID()}") { id } }`)).customer).toBeNull();
    const bad = await h.gql(p, `{ customer(id: "nope") { id } }`);
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
  });

  it('needs customers:write: a VIEWER is FORBIDDEN and nothing is written', async () => {
    const viewer = h.user('VIEWER');
    const before = await systemCount('SELECT count(*) AS n FROM events');
    const r = await h.gql(viewer, CREATE, { input: { name: 'Nope' } });
    expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await systemCount('SELECT count(*) AS n FROM events')).toBe(before);
  });

  it('invalid input is BAD_USER_INPUT with the field, nothing written', async () => {
    const p = h.user();
    const before = await systemCount('SELECT count(*) AS n FROM customers');
    for (const [input, field] of [
      [{ name: '' }, 'input.name'],
      [{ name: 'A', domain: 'not a domain' }, 'input.domain'],
      [{ name: 'A', mrr: -5 }, 'input.mrr'],
      [{ name: 'A', ownerId: 'x' }, 'input.ownerId'],
      [{ name: 'A', contacts: [{ name: 'C', email: 'bad' }] }, 'input.contacts.0.email'],
    ] as const) {
      const r = await h.gql(p, CREATE, { input });
      expect(r.errors?.[0]?.extensions, JSON.stringify(input)).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    expect(await systemCount('SELECT count(*) AS n FROM customers')).toBe(before);
  });
});

describe('recordSignal and health', () => {
  it('stores signals, returns the new score with factors, and keeps a history', async () => {
    const p = h.user('MEMBER');
    const id = await createCustomer(p, { name: 'Globex' });
    const s1 = await record(p, id, { kind: 'PRODUCT_USAGE', value: 0.8 });
    expect(s1).toMatchObject({ score: 80, grade: 'A', factors: [{ name: 'usage', weight: 1, value: 0.8 }] });
    const s2 = await record(p, id, { kind: 'SUPPORT_TICKET', value: 4, note: 'outage' });
    // (.35 * .8 + .2 * .5) / .55 = 69.09
    expect(s2.score).toBe(69);
    expect(s2.grade).toBe('B');
    expect(s2.factors.map((f) => f.name)).toEqual(['usage', 'support']);
    const s3 = await record(p, id, { kind: 'NPS', value: 9, occurredAt: new Date(Date.now() - 60 * 86_400_000).toISOString() });
    // (.28 + .1 + .2 * .9) / .75 = 74.67
    expect(s3.score).toBe(75);

    const r = await h.ok<{ customer: { healthScore: Score; churnRisk: boolean; healthHistory: { score: number }[]; last2: { score: number }[] } }>(
      p,
      `query($id: ID!) { customer(id: $id) { churnRisk healthScore { score grade computedAt factors { name weight value } }
         healthHistory { score } last2: healthHistory(last: 2) { score } } }`,
      { id },
    );
    expect(r.customer.healthScore).toEqual(s3);
    expect(r.customer.churnRisk).toBe(false);
    expect(r.customer.healthHistory.map((x) => x.score)).toEqual([80, 69, 75]);
    expect(r.customer.last2.map((x) => x.score)).toEqual([69, 75]);
    expect(await systemCount('SELECT count(*) AS n FROM signals WHERE customer_id = $1', [id])).toBe(3);
    expect(await systemCount(`SELECT count(*) AS n FROM signals WHERE customer_id = $1 AND kind = 'SUPPORT_TICKET' AND note = 'outage'`, [id])).toBe(1);
  });

  it('churn risk is flagged once per episode, cleared on recovery, and a new drop starts episode 2', async () => {
    const p = h.user('OWNER');
    const ownerId = randomUUID();
    const id = await createCustomer(p, { name: 'Umbrella', ownerId });
    const churnEvents = () =>
      h.systemDb.withClient((tx) =>
        tx.query<{ type: string; episode: number; owner_id: string | null }>(
          `SELECT type, (data->>'episode')::int AS episode, data->>'ownerId' AS owner_id FROM events
           WHERE stream_id = $1 AND type LIKE 'ChurnRisk%' ORDER BY version`,
          [`Customer-${id}`],
        ),
      );
    const atRisk = async () =>
      (await h.ok<{ customer: { churnRisk: boolean } }>(p, `query($id: ID!) { customer(id: $id) { churnRisk } }`, { id })).customer.churnRisk;

    // several low signals → one flag
    expect((await record(p, id, { kind: 'PRODUCT_USAGE', value: 0.1 })).score).toBe(10);
    await record(p, id, { kind: 'NPS', value: 1 });
    await record(p, id, { kind: 'SUPPORT_TICKET', value: 4 });
    await record(p, id, { kind: 'PRODUCT_USAGE', value: 0.05 });
    expect(await churnEvents()).toEqual([{ type: 'ChurnRiskFlagged', episode: 1, owner_id: ownerId }]);
    expect(await atRisk()).toBe(true);

    // recovery → cleared (once)
    let score = 0;
    for (let i = 0; i < 40 && score < 40; i++) score = (await record(p, id, { kind: 'PRODUCT_USAGE', value: 1 })).score;
    expect(score).toBeGreaterThanOrEqual(40);
    await record(p, id, { kind: 'NPS', value: 10 });
    expect(await churnEvents()).toEqual([
      { type: 'ChurnRiskFlagged', episode: 1, owner_id: ownerId },
      { type: 'ChurnRiskCleared', episode: 1, owner_id: null },
    ]);
    expect(await atRisk()).toBe(false);

    // drop again → episode 2
    for (let i = 0; i < 3; i++) await record(p, id, { kind: 'PAYMENT_FAILED', value: 500 });
    for (let i = 0; i < 60 && (await atRisk()) === false; i++) await record(p, id, { kind: 'PRODUCT_USAGE', value: 0 });
    await record(p, id, { kind: 'PRODUCT_USAGE', value: 0 });
    const events = await churnEvents();
    expect(events.map((e) => `${e.type}:${e.episode}`)).toEqual(['ChurnRiskFlagged:1', 'ChurnRiskCleared:1', 'ChurnRiskFlagged:2']);
    const list = await h.ok<{ customers: { totalCount: number; edges: { node: { id: string } }[] } }>(p, `{ customers(atRisk: true) { totalCount edges { node { id } } } }`);
    expect(list.customers.edges.map((e) => e.node.id)).toEqual([id]);
  });

  it('validation errors name the field and write nothing', async () => {
    const p = h.user();
    const id = await createCustomer(p, { name: 'Initech' });
    const before = await systemCount('SELECT count(*) AS n FROM events');
    const cases: [Record<string, unknown>, string][] = [
      [{ kind: 'PRODUCT_USAGE', value: 1.5 }, 'input.value'],
      [{ kind: 'SUPPORT_TICKET', value: 5 }, 'input.value'],
      [{ kind: 'NPS', value: 7.5 }, 'input.value'],
      [{ kind: 'PAYMENT_FAILED', value: -1 }, 'input.value'],
      [{ kind: 'LOGIN', value: 2.5 }, 'input.value'],
      [{ kind: 'NPS', value: 5, occurredAt: new Date(Date.now() + 3_600_000).toISOString() }, 'input.occurredAt'],
      [{ kind: 'NPS', value: 5, occurredAt: 'soon' }, 'input.occurredAt'],
      [{ kind: 'NPS', value: 5, note: 'x'.repeat(2001) }, 'input.note'],
      // a lone reading outside its window could never show in a score
      [{ kind: 'PRODUCT_USAGE', value: 0.5, occurredAt: new Date(Date.now() - 45 * 86_400_000).toISOString() }, 'input.occurredAt'],
    ];
    for (const [input, field] of cases) {
      const r = await h.gql(p, RECORD, { id, input });
      expect(r.errors?.[0]?.extensions, JSON.stringify(input)).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(r.data).toBeNull();
    }
    const bad = await h.gql(p, RECORD, { id: 'x', input: { kind: 'NPS', value: 1 } });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'customerId' });
    const missing = await h.gql(p, RECORD, { id: randomUUID(), input: { kind: 'NPS', value: 1 } });
    expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await systemCount('SELECT count(*) AS n FROM events')).toBe(before);
    expect(await systemCount('SELECT count(*) AS n FROM signals WHERE customer_id = $1', [id])).toBe(0);
  });

  it('concurrent signals on one customer all land (retried on a version race), one contiguous stream', async () => {
    const p = h.user();
    const id = await createCustomer(p, { name: 'Hooli' });
    const results = await Promise.all(Array.from({ length: 6 }, () => h.gql(p, RECORD, { id, input: { kind: 'LOGIN', value: 2 } })));
    for (const r of results) expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    expect(await systemCount('SELECT count(*) AS n FROM signals WHERE customer_id = $1', [id])).toBe(6);
    const stream = `Customer-${id}`;
    expect(await systemCount(`SELECT count(*) AS n FROM events WHERE stream_id = $1 AND type = 'SignalRecorded'`, [stream])).toBe(6);
    // 2 logins score 10 (flagged), 12 logins score 60 (cleared): 1 + 6 × 2 + 2 events, versions without gaps
    expect(await systemCount('SELECT max(version) AS n FROM events WHERE stream_id = $1', [stream])).toBe(15);
    expect(await systemCount('SELECT count(*) AS n FROM events WHERE stream_id = $1', [stream])).toBe(15);
    const c = await h.ok<{ customer: { healthScore: { score: number } } }>(p, `query($id: ID!) { customer(id: $id) { healthScore { score } } }`, { id });
    expect(c.customer.healthScore.score).toBe(60); // 12 logins / 20
  });
});

describe('authorization and tenancy', () => {
  it('mrr is null with FORBIDDEN at its path for MEMBER and VIEWER; other fields still resolve', async () => {
    const orgId = randomUUID();
    const owner = h.user('OWNER', orgId);
    const id = await createCustomer(owner, { name: 'Money Inc', mrr: 999 });
    const q = `query($id: ID!) { customer(id: $id) { id name mrr contacts { id } } }`;
    for (const role of ['ADMIN', 'OWNER'] as const) {
      const r = await h.gql<{ customer: { mrr: number } }>(h.user(role, orgId), q, { id });
      expect(r.errors).toBeUndefined();
      expect(r.data?.customer.mrr).toBe(999);
    }
    for (const role of ['MEMBER', 'VIEWER'] as const) {
      const r = await h.gql(h.user(role, orgId), q, { id });
      expect(r.data).toEqual({ customer: { id, name: 'Money Inc', mrr: null, contacts: [] } });
      expect(r.errors).toHaveLength(1);
      expect(r.errors?.[0]).toMatchObject({ path: ['customer', 'mrr'], extensions: { code: 'FORBIDDEN' } });
    }
  });

  it('org A cannot read or write org B', async () => {
    const a = h.user('OWNER');
    const b = h.user('OWNER');
    const idA = await createCustomer(a, { name: 'A-only', contacts: [{ name: 'Secret' }] });
    await record(a, idA, { kind: 'NPS', value: 9 });
    const idB = await createCustomer(b, { name: 'B-only' });

    expect((await h.ok<{ customer: unknown }>(b, `query($id: ID!) { customer(id: $id) { id } }`, { id: idA })).customer).toBeNull();
    const listB = await h.ok<{ customers: { totalCount: number; edges: { node: { id: string } }[] } }>(b, `{ customers(first: 100) { totalCount edges { node { id } } } }`);
    expect(listB.customers.totalCount).toBe(1);
    expect(listB.customers.edges.map((e) => e.node.id)).toEqual([idB]);
    const entities = await h.ok<{ _entities: unknown[] }>(
      b,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id name } } }`,
      { r: [{ __typename: 'Customer', id: idA }, { __typename: 'Customer', id: idB }] },
    );
    expect(entities._entities).toEqual([null, { id: idB, name: 'B-only' }]);

    const before = await systemCount('SELECT count(*) AS n FROM events');
    const write = await h.gql(b, RECORD, { id: idA, input: { kind: 'NPS', value: 0 } });
    expect(write.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await systemCount('SELECT count(*) AS n FROM events')).toBe(before);

    // Row-level security itself, below the resolvers: the runtime role in org B's tenant sees none of A's rows.
    const leaked = await h.db.tx({ orgId: b.orgId }, (tx) =>
      tx.query(`SELECT id FROM customers WHERE id = $1 UNION ALL SELECT id FROM contacts WHERE customer_id = $1
                UNION ALL SELECT id FROM signals WHERE customer_id = $1 UNION ALL SELECT id FROM health_scores WHERE customer_id = $1`, [idA]),
    );
    expect(leaked).toEqual([]);
    const noTenant = await h.db.tx({ orgId: null }, (tx) => tx.query('SELECT id FROM customers'));
    expect(noTenant).toEqual([]);
  });
});

describe('customers(first, after, atRisk)', () => {
  it('keyset pages newest first with totalCount and a stable cursor', async () => {
    const p = h.user();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await createCustomer(p, { name: `C${i}` }));
    const newestFirst = [...ids].reverse();
    const q = `query($after: String) { customers(first: 3, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }`;
    type Page = { customers: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { cursor: string; node: { id: string } }[] } };
    const seen: string[] = [];
    let after: string | null = null;
    const hasNext: boolean[] = [];
    for (;;) {
      const r: Page = await h.ok<Page>(p, q, { after });
      expect(r.customers.totalCount).toBe(7);
      seen.push(...r.customers.edges.map((e) => e.node.id));
      hasNext.push(r.customers.pageInfo.hasNextPage);
      if (!r.customers.pageInfo.hasNextPage) break;
      after = r.customers.pageInfo.endCursor;
    }
    expect(seen).toEqual(newestFirst);
    expect(hasNext).toEqual([true, true, false]);
    const empty = await h.ok<{ customers: { totalCount: number; edges: unknown[] } }>(p, `{ customers(atRisk: true) { totalCount edges { cursor } } }`);
    expect(empty.customers).toEqual({ totalCount: 0, edges: [] });
  });

  it('refuses first > 100, negative first and a forged cursor', async () => {
    const p = h.user();
    expect((await h.gql(p, `{ customers(first: 101) { totalCount } }`)).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
    expect((await h.gql(p, `{ customers(first: -1) { totalCount } }`)).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
    expect((await h.gql(p, `{ customers(after: "garbage") { totalCount } }`)).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    const forged = Buffer.from(JSON.stringify(['x', 'y'])).toString('base64url');
    expect((await h.gql(p, `{ customers(after: "${forged}") { totalCount } }`)).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
  });
});
