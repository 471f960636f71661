import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@cos/testing';
import { Db, createPool, migrate, serviceDatabase } from '../src/index';

let tdb: TestDatabase;
let dir: string;
const svc = serviceDatabase('dbtest', 'postgres://x@127.0.0.1:5432/x');

beforeAll(async () => {
  tdb = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), 'mig-'));
  await cp(path.join(import.meta.dirname, 'fixtures/migrations'), dir, { recursive: true });
});
afterAll(async () => tdb?.drop());

const run = () =>
  migrate({ adminUrl: tdb.adminUrl, schema: 'dbtest', dir, runtimeRole: svc.runtimeRole, systemRole: svc.systemRole });

describe('migrations', () => {
  it('applies pending migrations once, then nothing', async () => {
    expect((await run()).applied).toEqual(['1_init']);
    expect((await run()).applied).toEqual([]);
  });

  it('applies migrations concurrently without double-applying (advisory lock)', async () => {
    await writeFile(path.join(dir, '0002_more.sql'), 'ALTER TABLE notes ADD COLUMN tag text;');
    const results = await Promise.all([run(), run(), run()]);
    expect(results.flatMap((r) => r.applied)).toEqual(['2_more']);
  });

  it('refuses an applied migration that was edited', async () => {
    await writeFile(path.join(dir, '0001_init.sql'), 'SELECT 1;');
    await expect(run()).rejects.toThrow(/was edited after it was applied/);
  });
});

describe('tenant transactions and row-level security', () => {
  it('lets the runtime role see only its own organization and nothing outside its schema', async () => {
    const urls = serviceDatabase('dbtest', tdb.adminUrl);
    const db = new Db(createPool({ connectionString: urls.runtimeUrl, schema: 'dbtest', applicationName: 't', max: 2, statementTimeoutMs: 2000 }));
    const orgA = randomUUID();
    const orgB = randomUUID();
    try {
      await db.tx({ orgId: orgA }, (tx) => tx.query('INSERT INTO notes (id, org_id, body) VALUES ($1, $2, $3)', [randomUUID(), orgA, 'a']));
      await db.tx({ orgId: orgB }, (tx) => tx.query('INSERT INTO notes (id, org_id, body) VALUES ($1, $2, $3)', [randomUUID(), orgB, 'b']));
      const seenByA = await db.query<{ body: string }>({ orgId: orgA }, 'SELECT body FROM notes');
      expect(seenByA.map((r) => r.body)).toEqual(['a']);
      // Writing into another org is refused by the policy's WITH CHECK.
      await expect(
        db.tx({ orgId: orgA }, (tx) => tx.query('INSERT INTO notes (id, org_id, body) VALUES ($1, $2, $3)', [randomUUID(), orgB, 'x'])),
      ).rejects.toThrow(/row-level security/);
      // No tenant set: nothing visible.
      expect(await db.query({ orgId: null }, 'SELECT * FROM notes')).toEqual([]);
      // The role cannot read the migrations bookkeeping or other schemas.
      await expect(db.query({ orgId: orgA }, 'SELECT * FROM schema_migrations')).rejects.toThrow(/permission denied/);
      await expect(db.query({ orgId: orgA }, 'SELECT * FROM pg_catalog.pg_authid')).rejects.toThrow(/permission denied/);
    } finally {
      await db.close();
    }
  });

  it('rolls back the whole transaction on error and counts statements', async () => {
    const urls = serviceDatabase('dbtest', tdb.adminUrl);
    const db = new Db(createPool({ connectionString: urls.runtimeUrl, schema: 'dbtest', applicationName: 't', max: 2, statementTimeoutMs: 2000 }));
    const org = randomUUID();
    let count = 0;
    const off = db.onQuery(() => count++);
    try {
      await expect(
        db.tx({ orgId: org }, async (tx) => {
          await tx.query('INSERT INTO notes (id, org_id, body) VALUES ($1, $2, $3)', [randomUUID(), org, 'kept?']);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await db.query({ orgId: org }, 'SELECT * FROM notes')).toEqual([]);
      expect(count).toBe(2);
    } finally {
      off();
      await db.close();
    }
  });

  it('enforces the statement timeout', async () => {
    const urls = serviceDatabase('dbtest', tdb.adminUrl);
    const db = new Db(createPool({ connectionString: urls.runtimeUrl, schema: 'dbtest', applicationName: 't', max: 1, statementTimeoutMs: 200 }));
    try {
      await expect(db.query({ orgId: null }, 'SELECT pg_sleep(2)')).rejects.toMatchObject({ extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    } finally {
      await db.close();
    }
  });
});
