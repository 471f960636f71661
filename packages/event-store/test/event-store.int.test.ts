import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Db, createPool, migrate, serviceDatabase, type Tx } from '@cos/db';
import { createTestDatabase, type TestDatabase } from '@cos/testing';
import { createEventStore, eventStoreMigrations, type DomainEvent, type StoredOf } from '../src/index';

type CounterEvent = DomainEvent<'Incremented', { by: number }> | DomainEvent<'Broke', { reason: string }>;

let tdb: TestDatabase;
let db: Db;
const org = randomUUID();

const store = createEventStore<CounterEvent>({
  notifyChannel: 'estest_events',
  async project(tx: Tx, e: StoredOf<CounterEvent>) {
    if (e.type === 'Broke') throw new Error('projection failed');
    await tx.query(
      `INSERT INTO counters (id, org_id, value, version) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET value = counters.value + $3, version = $4`,
      [e.streamId, e.orgId, e.data.by, e.version],
    );
  },
});
const meta = { actor: 'user:test', correlationId: 'c1' };

beforeAll(async () => {
  tdb = await createTestDatabase();
  const dir = await mkdtemp(path.join(tmpdir(), 'es-'));
  await writeFile(path.join(dir, '0001_init.sql'), `CREATE TABLE counters (id text PRIMARY KEY, org_id uuid NOT NULL, value int NOT NULL, version int NOT NULL);`);
  const svc = serviceDatabase('estest', tdb.adminUrl);
  await migrate({ adminUrl: tdb.adminUrl, schema: 'estest', dir, packages: [eventStoreMigrations], runtimeRole: svc.runtimeRole, systemRole: svc.systemRole });
  db = new Db(createPool({ connectionString: svc.runtimeUrl, schema: 'estest', applicationName: 't', max: 4, statementTimeoutMs: 5000 }));
  void cp;
});
afterAll(async () => {
  await db?.close();
  await tdb?.drop();
});

const append = (streamId: string, expectedVersion: number, events: CounterEvent[]) =>
  db.tx({ orgId: org }, (tx) => store.append(tx, { orgId: org, streamId, streamType: 'Counter', expectedVersion, events, metadata: meta }));

describe('event store', () => {
  it('appends with versions and projects in the same transaction', async () => {
    const s = `Counter-${randomUUID()}`;
    const stored = await append(s, 0, [
      { type: 'Incremented', data: { by: 2 } },
      { type: 'Incremented', data: { by: 3 } },
    ]);
    expect(stored.map((e) => e.version)).toEqual([1, 2]);
    expect(stored[0]!.metadata).toEqual(meta);
    const [row] = await db.query<{ value: number; version: number }>({ orgId: org }, 'SELECT value, version FROM counters WHERE id = $1', [s]);
    expect(row).toEqual({ value: 5, version: 2 });
  });

  it('answers CONFLICT with the current version on a stale expected version, writing nothing', async () => {
    const s = `Counter-${randomUUID()}`;
    await append(s, 0, [{ type: 'Incremented', data: { by: 1 } }]);
    await expect(append(s, 0, [{ type: 'Incremented', data: { by: 1 } }])).rejects.toMatchObject({
      extensions: { code: 'CONFLICT', currentVersion: 1 },
    });
    const events = await db.tx({ orgId: org }, (tx) => store.readStream(tx, s));
    expect(events).toHaveLength(1);
  });

  it('lets exactly one of many concurrent writers win (no lost update)', async () => {
    const s = `Counter-${randomUUID()}`;
    await append(s, 0, [{ type: 'Incremented', data: { by: 1 } }]);
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => append(s, 1, [{ type: 'Incremented', data: { by: 10 } }])));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected')) {
      expect((r as PromiseRejectedResult).reason.extensions.code).toBe('CONFLICT');
    }
    const [row] = await db.query<{ value: number }>({ orgId: org }, 'SELECT value FROM counters WHERE id = $1', [s]);
    expect(row!.value).toBe(11);
  });

  it('rolls the events back when the projection fails (no event without its read model)', async () => {
    const s = `Counter-${randomUUID()}`;
    await expect(append(s, 0, [{ type: 'Incremented', data: { by: 1 } }, { type: 'Broke', data: { reason: 'x' } }])).rejects.toThrow(
      'projection failed',
    );
    const events = await db.tx({ orgId: org }, (tx) => store.readStream(tx, s));
    expect(events).toEqual([]);
  });

  it('folds a stream into state and hides other organizations\' streams', async () => {
    const s = `Counter-${randomUUID()}`;
    await append(s, 0, [{ type: 'Incremented', data: { by: 4 } }, { type: 'Incremented', data: { by: 6 } }]);
    const agg = { initial: 0, evolve: (n: number, e: StoredOf<CounterEvent>) => (e.type === 'Incremented' ? n + e.data.by : n) };
    const loaded = await db.tx({ orgId: org }, (tx) => store.load(tx, s, agg));
    expect(loaded).toEqual({ state: 10, version: 2 });
    const other = await db.tx({ orgId: randomUUID() }, (tx) => store.load(tx, s, agg));
    expect(other).toEqual({ state: 0, version: 0 });
  });
});
