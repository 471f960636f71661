import { randomBytes, randomUUID } from 'node:crypto';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Db, createPool, dropDatabase, ensureDatabase, isDatabaseUnavailable, migrate, serviceDatabase } from '../src/index';

// Its own database, made with this package's own helpers (@cos/testing builds on @cos/db, so it is not used here).
const tdb = (() => {
  const u = new URL(process.env.COS_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  u.pathname = `/cos_test_db_${randomBytes(5).toString('hex')}`;
  return { adminUrl: u.toString(), drop: () => dropDatabase(u.toString()) };
})();
let dir: string;
const svc = serviceDatabase('dbtest', 'postgres://x@127.0.0.1:5432/x');

beforeAll(async () => {
  expect(await ensureDatabase(tdb.adminUrl)).toBe(true);
  expect(await ensureDatabase(tdb.adminUrl)).toBe(false); // exists now: nothing to do
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

  const runtimeDb = (max: number) => {
    const urls = serviceDatabase('dbtest', tdb.adminUrl);
    return new Db(createPool({ connectionString: urls.runtimeUrl, schema: 'dbtest', applicationName: 't', max, statementTimeoutMs: 2000 }));
  };
  const settings = `SELECT current_setting('app.org_id', true) AS org, current_setting('app.user_id', true) AS "user"`;

  it('sets the tenant for the first statement of a transaction (sent with BEGIN) and for every later one, then forgets it', async () => {
    // One connection: what a transaction leaves behind would be seen by the next one.
    const db = runtimeDb(1);
    const org = randomUUID();
    const user = randomUUID();
    try {
      const seen = await db.tx({ orgId: org, userId: user }, async (tx) => {
        const first = await tx.one<{ org: string; user: string }>(settings);
        await tx.query('INSERT INTO notes (id, org_id, body) VALUES ($1, $2, $3)', [randomUUID(), org, 'first']);
        // issued together: pg keeps their order, and both run inside the transaction
        const [a, b] = await Promise.all([tx.query<{ body: string }>('SELECT body FROM notes'), tx.one<{ org: string }>(settings)]);
        return { first, a, b };
      });
      expect(seen.first).toEqual({ org, user });
      expect(seen.a.map((r) => r.body)).toEqual(['first']);
      expect(seen.b?.org).toBe(org);
      const after = await db.withClient((tx) => tx.one<{ org: string | null }>(settings));
      expect(after?.org ?? '').toBe('');
      // committed: visible to the next transaction of the same organization
      expect((await db.query<{ body: string }>({ orgId: org }, 'SELECT body FROM notes')).map((r) => r.body)).toEqual(['first']);
    } finally {
      await db.close();
    }
  });

  it('rolls back when the statement that carries BEGIN fails, and the connection stays usable', async () => {
    const db = runtimeDb(1);
    const org = randomUUID();
    try {
      await expect(
        db.tx({ orgId: org }, (tx) => tx.query('INSERT INTO notes (id, org_id, body) VALUES ($1, $2, $3)', [randomUUID(), randomUUID(), 'x'])),
      ).rejects.toThrow(/row-level security/);
      await expect(db.tx({ orgId: org }, (tx) => tx.query('SELECT nope FROM notes'))).rejects.toThrow(/nope/);
      await expect(db.tx({ orgId: org }, (tx) => tx.query('SELECT $1::int', ['not a number']))).rejects.toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
      const status = await db.withClient((tx) => tx.one<{ open: boolean }>(`SELECT now() <> statement_timestamp() AS open`));
      expect(status?.open).toBe(false); // not left inside a transaction
      expect(await db.tx({ orgId: org }, async () => 'no statement')).toBe('no statement');
      expect(await db.query({ orgId: org }, 'SELECT body FROM notes')).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('single(): one statement with the tenant, committed as a whole; a second statement is refused', async () => {
    const db = runtimeDb(1);
    const org = randomUUID();
    const user = randomUUID();
    try {
      expect(await db.single({ orgId: org, userId: user }, (tx) => tx.one(settings))).toEqual({ org, user });
      // the settings were local to that implicit transaction
      expect((await db.withClient((tx) => tx.one<{ org: string | null }>(settings)))?.org ?? '').toBe('');
      await db.single({ orgId: org }, (tx) => tx.query('INSERT INTO notes (id, org_id, body) VALUES ($1, $2, $3)', [randomUUID(), org, 'single']));
      expect((await db.query<{ body: string }>({ orgId: org }, 'SELECT body FROM notes')).map((r) => r.body)).toEqual(['single']);
      // RLS applies to it like to any transaction
      await expect(
        db.single({ orgId: org }, (tx) => tx.query('INSERT INTO notes (id, org_id, body) VALUES ($1, $2, $3)', [randomUUID(), randomUUID(), 'x'])),
      ).rejects.toThrow(/row-level security/);
      // one multi-row statement is atomic: the second row's failure takes the first with it
      const dup = randomUUID();
      await expect(
        db.single({ orgId: org }, (tx) =>
          tx.query(`INSERT INTO notes (id, org_id, body) VALUES ($1, $2, 'one'), ($1, $2, 'two')`, [dup, org]),
        ),
      ).rejects.toThrow(/duplicate key/);
      await expect(
        db.single({ orgId: org }, async (tx) => {
          await tx.query('SELECT 1');
          await tx.query('SELECT 2');
        }),
      ).rejects.toThrow(/one statement/);
      expect((await db.query<{ body: string }>({ orgId: org }, 'SELECT body FROM notes ORDER BY body')).map((r) => r.body)).toEqual(['single']);
    } finally {
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

describe('databases', () => {
  it('creates a database once, drops it (with sessions still open), and refuses names that would need quoting', async () => {
    const url = tdb.adminUrl.replace(/\/[^/]+$/, `/cos_test_db_${randomBytes(5).toString('hex')}`);
    expect(await ensureDatabase(url)).toBe(true);
    expect(await ensureDatabase(url)).toBe(false);
    const open = new Db(createPool({ connectionString: url, schema: 'public', applicationName: 'db-test', max: 1, statementTimeoutMs: 5_000 }));
    await open.pool.query('SELECT 1');
    await dropDatabase(url);
    expect(await ensureDatabase(url)).toBe(true); // it was gone
    await dropDatabase(url);
    await open.close().catch(() => {});
    await expect(ensureDatabase(tdb.adminUrl.replace(/\/[^/]+$/, '/Bad%22Name'))).rejects.toThrow(/unsafe identifier/);
  });
});

describe('a connection lost while checked out', () => {
  it('fails the transaction (database unavailable) instead of crashing the process, and the pool recovers', async () => {
    const urls = serviceDatabase('dbtest', tdb.adminUrl);
    const db = new Db(createPool({ connectionString: urls.systemUrl, schema: 'dbtest', applicationName: 'lost-conn', max: 1, statementTimeoutMs: 2000 }));
    const admin = new Db(createPool({ connectionString: tdb.adminUrl, schema: 'dbtest', applicationName: 'lost-conn-admin', max: 1, statementTimeoutMs: 2000 }));
    try {
      const err = await db
        .tx({ orgId: null }, async (tx) => {
          const [{ pid }] = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')) as [{ pid: number }];
          await admin.withClient((a) => a.query('SELECT pg_terminate_backend($1)', [pid]));
          // The backend is gone while this client is checked out and idle: pg emits 'error' on it now.
          await new Promise((r) => setTimeout(r, 300));
          await tx.query('SELECT 1');
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(isDatabaseUnavailable(err)).toBe(true);
      // The dead client was dropped at release: the next transaction gets a fresh connection.
      expect(await db.query({ orgId: null }, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await db.close();
      await admin.close();
    }
  });
});
