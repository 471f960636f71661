import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Db, createPool, dropDatabase, ensureDatabase, resultMayChange } from '../src/index';

/**
 * Named prepared statements of @cos/db against a real Postgres: parsed once per connection, bounded, and safe across
 * an expand/contract migration that changes a table under a prepared `SELECT *` ("cached plan must not change result
 * type", 0A000) or a server that dropped them (26000).
 */
const url = (() => {
  const u = new URL(process.env.COS_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  u.pathname = `/cos_test_prep_${randomBytes(5).toString('hex')}`;
  return u.toString();
})();
let admin: pg.Client;
const scope = { orgId: randomUUID() };

beforeAll(async () => {
  await ensureDatabase(url);
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query('CREATE SCHEMA prep');
});
afterAll(async () => {
  await admin?.end();
  await dropDatabase(url);
});

const openDb = (preparedStatements?: number) =>
  new Db(createPool({ connectionString: url, schema: 'prep', applicationName: 'prep-test', max: 1, statementTimeoutMs: 5_000 }), { preparedStatements });

/** The statements this connection has prepared under our names (the pool has one connection). */
const prepared = (db: Db) =>
  db.withClient((tx) => tx.query<{ name: string; statement: string }>(`SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'cos\\_%' ORDER BY name`));

async function table(name: string) {
  await admin.query(`DROP TABLE IF EXISTS prep.${name}`);
  await admin.query(`CREATE TABLE prep.${name} (id int PRIMARY KEY, a text NOT NULL)`);
  await admin.query(`INSERT INTO prep.${name} VALUES (1, 'one'), (2, 'two')`);
}

describe('named prepared statements', () => {
  it('parses each statement once per connection, with the tenant prologue, and answers like an unnamed one', async () => {
    await table('t1');
    const db = openDb();
    try {
      for (let i = 0; i < 3; i++) {
        expect(await db.query(scope, 'SELECT id, a FROM t1 WHERE id = ANY($1::int[]) ORDER BY id', [[1, 2]])).toEqual([
          { id: 1, a: 'one' },
          { id: 2, a: 'two' },
        ]);
        const seen = await db.tx(scope, async (tx) => {
          const org = await tx.one<{ org: string }>(`SELECT current_setting('app.org_id', true) AS org`);
          const row = await tx.one<{ a: string }>('SELECT a FROM t1 WHERE id = $1', [2]);
          return { org: org?.org, a: row?.a };
        });
        expect(seen).toEqual({ org: scope.orgId, a: 'two' });
      }
      const statements = (await prepared(db)).map((r) => r.statement);
      // BEGIN, set_config, and the three statements: once each, however often they ran.
      expect(statements.sort()).toEqual(
        [
          'BEGIN',
          "SELECT set_config('app.org_id', $1, true), set_config('app.user_id', $2, true)",
          'SELECT id, a FROM t1 WHERE id = ANY($1::int[]) ORDER BY id',
          `SELECT current_setting('app.org_id', true) AS org`,
          'SELECT a FROM t1 WHERE id = $1',
        ].sort(),
      );
    } finally {
      await db.close();
    }
  });

  it('keeps at most `preparedStatements` per connection, closing the least recently used', async () => {
    const db = openDb(4);
    try {
      for (let i = 0; i < 10; i++) expect(await db.query(scope, `SELECT ${i} AS n`)).toEqual([{ n: i }]);
      // The Close of a statement evicted by a flight travels with the connection's next flight.
      await db.query(scope, 'SELECT 100 AS n');
      await db.query(scope, 'SELECT 100 AS n');
      const left = await prepared(db);
      expect(left.length).toBeLessThanOrEqual(4);
      expect(left.map((r) => r.statement)).toContain('SELECT 100 AS n');
    } finally {
      await db.close();
    }
  });

  it('re-prepares a `SELECT *` after a migration adds and drops a column (0A000), for single() and a tx first statement', async () => {
    await table('t2');
    const db = openDb();
    const star = 'SELECT * FROM t2 WHERE id = $1';
    try {
      expect(await db.query(scope, star, [1])).toEqual([{ id: 1, a: 'one' }]);
      expect(await db.tx(scope, (tx) => tx.query(star, [1]))).toEqual([{ id: 1, a: 'one' }]);

      // The error the retry exists for: the same prepared statement, bound after the table changed.
      const raw = new pg.Client({ connectionString: url });
      await raw.connect();
      try {
        await raw.query({ name: 'p', text: 'SELECT * FROM prep.t2 WHERE id = $1', values: [1] });
        await admin.query(`ALTER TABLE prep.t2 ADD COLUMN b text NOT NULL DEFAULT 'bee'`);
        await expect(raw.query({ name: 'p', text: 'SELECT * FROM prep.t2 WHERE id = $1', values: [1] })).rejects.toMatchObject({
          code: '0A000',
          message: 'cached plan must not change result type',
        });
      } finally {
        await raw.end();
      }

      // expand: single() and a transaction's first statement both answer with the new column
      expect(await db.query(scope, star, [1])).toEqual([{ id: 1, a: 'one', b: 'bee' }]);
      await admin.query(`ALTER TABLE prep.t2 ADD COLUMN c int NOT NULL DEFAULT 7`);
      const inTx = await db.tx(scope, async (tx) => {
        const first = await tx.query(star, [1]);
        await tx.query('INSERT INTO t2 (id, a) VALUES ($1, $2)', [3, 'three']);
        return first;
      });
      expect(inTx).toEqual([{ id: 1, a: 'one', b: 'bee', c: 7 }]);
      // the retried transaction committed its later statement
      expect(await db.query(scope, 'SELECT a FROM t2 WHERE id = 3')).toEqual([{ a: 'three' }]);

      // contract: drop the column; the statement that was prepared with it answers without it
      await admin.query('ALTER TABLE prep.t2 DROP COLUMN b');
      expect(await db.query(scope, star, [1])).toEqual([{ id: 1, a: 'one', c: 7 }]);
    } finally {
      await db.close();
    }
  });

  it('retries a stale first statement ahead of statements already queued behind it in the same transaction', async () => {
    await table('t3');
    const db = openDb();
    const star = 'SELECT * FROM t3 ORDER BY id';
    try {
      expect(await db.tx(scope, (tx) => tx.query(star))).toHaveLength(2);
      await admin.query(`ALTER TABLE prep.t3 ADD COLUMN b int NOT NULL DEFAULT 0`);
      // issued together: the second is queued on the client while the first is retried
      const [all, one] = await db.tx(scope, (tx) => Promise.all([tx.query(star), tx.one<{ a: string }>('SELECT a FROM t3 WHERE id = $1', [2])]));
      expect(all).toEqual([
        { id: 1, a: 'one', b: 0 },
        { id: 2, a: 'two', b: 0 },
      ]);
      expect(one).toEqual({ a: 'two' });
    } finally {
      await db.close();
    }
  });

  it('does not prepare a `*` statement later in a transaction, so a migration cannot abort the transaction with it', async () => {
    await table('t4');
    const db = openDb();
    const star = 'SELECT * FROM t4 WHERE id = $1';
    const body = async (tx: Parameters<Parameters<Db['tx']>[1]>[0]) => {
      await tx.query('SELECT 1 AS first');
      return tx.query(star, [1]);
    };
    try {
      expect(await db.tx(scope, body)).toEqual([{ id: 1, a: 'one' }]);
      await admin.query(`ALTER TABLE prep.t4 ADD COLUMN b int NOT NULL DEFAULT 5`);
      expect(await db.tx(scope, body)).toEqual([{ id: 1, a: 'one', b: 5 }]);
      expect((await prepared(db)).map((r) => r.statement)).not.toContain(star);
      // A later statement with its own column list is prepared; adding a column does not change its result type.
      const named = 'SELECT a FROM t4 WHERE id = $1';
      const later = (tx: Parameters<Parameters<Db['tx']>[1]>[0]) => tx.query('SELECT 1').then(() => tx.query(named, [1]));
      expect(await db.tx(scope, later)).toEqual([{ a: 'one' }]);
      await admin.query(`ALTER TABLE prep.t4 ADD COLUMN c int`);
      expect(await db.tx(scope, later)).toEqual([{ a: 'one' }]);
      expect((await prepared(db)).map((r) => r.statement)).toContain(named);
    } finally {
      await db.close();
    }
  });

  it('re-prepares after the server dropped its statements (26000), and after a failed flight', async () => {
    await table('t5');
    const db = openDb();
    try {
      expect(await db.query(scope, 'SELECT a FROM t5 WHERE id = $1', [1])).toEqual([{ a: 'one' }]);
      await db.withClient((tx) => tx.query('DEALLOCATE ALL'));
      expect(await db.query(scope, 'SELECT a FROM t5 WHERE id = $1', [1])).toEqual([{ a: 'one' }]);
      expect(await db.tx(scope, (tx) => tx.query('SELECT a FROM t5 WHERE id = $1', [2]))).toEqual([{ a: 'two' }]);

      // Errors at parse (syntax), bind (bad value) and execution (duplicate key) leave the connection usable and its
      // cache consistent (no "prepared statement already exists").
      await expect(db.query(scope, 'SELEC a FROM t5')).rejects.toThrow(/syntax/);
      await expect(db.query(scope, 'SELECT a FROM t5 WHERE id = $1', ['x'])).rejects.toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
      const insert = 'INSERT INTO t5 (id, a) VALUES ($1, $2)';
      await expect(db.tx(scope, (tx) => tx.query(insert, [1, 'dup']))).rejects.toThrow(/duplicate key/);
      await db.tx(scope, (tx) => tx.query(insert, [9, 'nine']));
      await expect(db.tx(scope, (tx) => tx.query(insert, [9, 'again']))).rejects.toThrow(/duplicate key/);
      expect(await db.query(scope, 'SELECT a FROM t5 WHERE id = $1', [9])).toEqual([{ a: 'nine' }]);
      const names = (await prepared(db)).map((r) => r.statement);
      expect(new Set(names).size).toBe(names.length);
    } finally {
      await db.close();
    }
  });

  it('can be turned off: every statement unnamed', async () => {
    await table('t6');
    const db = openDb(0);
    try {
      expect(await db.tx(scope, (tx) => tx.query('SELECT a FROM t6 WHERE id = $1', [1]))).toEqual([{ a: 'one' }]);
      expect(await prepared(db)).toEqual([]);
    } finally {
      await db.close();
    }
  });
});

describe('resultMayChange', () => {
  it('flags select lists that follow a table, not count(*) or comments', () => {
    expect(resultMayChange('SELECT * FROM t')).toBe(true);
    expect(resultMayChange('select p.*, q.x from p join q')).toBe(true);
    expect(resultMayChange('SELECT a, * FROM t')).toBe(true);
    expect(resultMayChange('INSERT INTO t VALUES ($1) RETURNING *')).toBe(true);
    expect(resultMayChange('/* getX */ SELECT count(*) AS n FROM t')).toBe(false);
    expect(resultMayChange('SELECT a * 2 FROM t')).toBe(false);
    expect(resultMayChange('/* a.* */ SELECT id FROM t')).toBe(false);
  });
});
