/**
 * Expand/contract end to end on a real Postgres (issue 13): phases from the file names, the batched backfill killed
 * mid-run and resumed from its checkpoint, and a contract migration refused while an instance of the previous
 * release is registered (through service-kit's registerInstance, as every subgraph process does), applied once it
 * is gone; code older than an applied contract refuses to start.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContractBlockedError, createPool, Db, migrate, readMigrations, type MigrateOptions } from '@cos/db';
import { createLogger } from '@cos/logger';
import { createTestDatabase, type TestDatabase } from '@cos/testing';
import { registerInstance, SchemaTooNewError } from '../src/instances';

const SCHEMA = 'xctest';
const ROWS = 2_500;
let tdb: TestDatabase;
let dir: string;
let admin: pg.Client;
let systemDb: Db;
const log = createLogger('xctest', 'silent');
const roles = { runtimeRole: 'cos_xctest', systemRole: 'cos_xctest_system' };
const run = (o: Partial<MigrateOptions> = {}) => migrate({ adminUrl: tdb.adminUrl, schema: SCHEMA, dir, ...roles, ...o });

beforeAll(async () => {
  tdb = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), 'xc-'));
  await writeFile(
    path.join(dir, '0001_init.sql'),
    `CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL);
     INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, ${ROWS}) g;`,
  );
  await writeFile(
    path.join(dir, '0002_expand_item_title.sql'),
    `ALTER TABLE items ADD COLUMN title text;
     ALTER TABLE items ALTER COLUMN label DROP NOT NULL;
     CREATE FUNCTION items_sync() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NEW.title IS NULL THEN NEW.title := NEW.label; ELSIF NEW.label IS NULL THEN NEW.label := NEW.title; END IF;
       RETURN NEW;
     END $$;
     CREATE TRIGGER items_sync BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION items_sync();`,
  );
  await writeFile(
    path.join(dir, '0002_expand_item_title.backfill.json'),
    JSON.stringify({ table: 'items', key: 'id', set: 'title = label', where: 'title IS DISTINCT FROM label' }),
  );
  await writeFile(
    path.join(dir, '0003_drop_items_label.sql'),
    `-- phase: contract\nDROP TRIGGER items_sync ON items; DROP FUNCTION items_sync(); ALTER TABLE items DROP COLUMN label;`,
  );
  admin = new pg.Client({ connectionString: tdb.adminUrl });
  await admin.connect();
});

afterAll(async () => {
  await systemDb?.close();
  await admin?.end();
  await tdb?.drop();
});

const count = async (sql: string) => Number((await admin.query<{ n: string }>(sql)).rows[0]!.n);

describe('expand/contract migrations', () => {
  it('reads the phase from the file name or a header line, and the backfill next to its migration', async () => {
    const files = await readMigrations(dir);
    expect(files.map((f) => [f.version, f.phase, Boolean(f.backfill)])).toEqual([
      [1, 'expand', false],
      [2, 'expand', true],
      [3, 'contract', false],
    ]);
  });

  it('expand phase: applies up to the first contract migration; a backfill killed mid-run resumes from its checkpoint', async () => {
    let killed = false;
    const first = run({
      backfillBatchSize: 500,
      // The third batch's connection dies before its commit, as if the runner were killed -9 there.
      onBackfillBatch: async (p) => {
        if (p.batches === 3 && !killed) {
          killed = true;
          await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'backfill:${SCHEMA}'`);
        }
      },
    });
    await expect(first).rejects.toThrow(/backfill xctest\/0002_expand_item_title stopped at id 1000 \(resumable\)/);
    const progress = (await admin.query(`SELECT last_key, rows_scanned, batches, finished_at FROM ${SCHEMA}.backfill_progress`)).rows[0];
    expect(progress).toMatchObject({ last_key: '1000', rows_scanned: '1000', batches: 2, finished_at: null });
    expect(await count(`SELECT count(*) AS n FROM ${SCHEMA}.items WHERE title IS NOT NULL`)).toBe(1000);

    const logs: string[] = [];
    const second = await run({ backfillBatchSize: 500, log: (m) => logs.push(m) });
    expect(second.applied).toEqual([]);
    expect(second.pendingContract).toBe(`${SCHEMA}/0003_drop_items_label`);
    expect(second.backfilled[0]).toMatchObject({ resumedFrom: '1000', rowsScanned: ROWS, rowsUpdated: ROWS, batches: 5 });
    expect(logs.some((l) => /resuming after id 1000/.test(l))).toBe(true);
    expect(logs.some((l) => /2500\/2500 rows \(100\.0%\)/.test(l))).toBe(true);
    expect(await count(`SELECT count(*) AS n FROM ${SCHEMA}.items WHERE title = label`)).toBe(ROWS);
    // The old column is still there: the previous release keeps working.
    expect(await count(`SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = '${SCHEMA}' AND column_name = 'label'`)).toBe(1);
    // Done stays done.
    expect((await run()).backfilled).toEqual([]);
  });

  it('refuses the contract while an instance of the previous release is registered, naming it; applies it once it is gone', async () => {
    systemDb = new Db(
      createPool({ connectionString: tdb.service('identity').systemUrl.replace('cos_identity_system', roles.systemRole), schema: SCHEMA, applicationName: 'xctest', max: 2, statementTimeoutMs: 5_000 }),
    );
    const previous = await registerInstance({ db: systemDb, service: SCHEMA, schemaLevel: 2, codeVersion: 'v1.4.0', log });
    const current = await registerInstance({ db: systemDb, service: SCHEMA, schemaLevel: 3, codeVersion: 'v1.5.0', log });
    // A crashed instance of an even older release whose heartbeat stopped long ago does not block anything.
    await admin.query(
      `INSERT INTO ${SCHEMA}.service_instances (id, service, host, pid, code_version, schema_level, heartbeat_at, expires_at)
       VALUES ('crashed', '${SCHEMA}', 'h', 1, 'v1.0.0', 1, now() - interval '1 hour', now() - interval '59 minutes')`,
    );

    const refused = await run({ phase: 'contract' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ContractBlockedError);
    const msg = (refused as Error).message;
    expect(msg).toContain(`contract migration ${SCHEMA}/0003_drop_items_label refused`);
    expect(msg).toContain(previous.id);
    expect(msg).toContain('code v1.4.0, schema level 2');
    expect(msg).not.toContain(current.id);
    expect(msg).not.toContain('crashed');
    expect((refused as ContractBlockedError).blockers.map((b) => b.id)).toEqual([previous.id]);
    expect(await count(`SELECT count(*) AS n FROM ${SCHEMA}.schema_migrations WHERE version = 3`)).toBe(0);

    await previous.deregister();
    const applied = await run({ phase: 'contract' });
    expect(applied.applied).toEqual(['3_drop_items_label']);
    expect(await count(`SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = '${SCHEMA}' AND column_name = 'label'`)).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM ${SCHEMA}.service_instances WHERE id = 'crashed'`)).toBe(0); // expired: swept
    await current.deregister();
    expect(await count(`SELECT count(*) AS n FROM ${SCHEMA}.service_instances`)).toBe(0);
  });

  it('code older than an applied contract migration refuses to start', async () => {
    const err = await registerInstance({ db: systemDb, service: SCHEMA, schemaLevel: 2, codeVersion: 'v1.4.0', log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaTooNewError);
    expect((err as Error).message).toMatch(/contract migration 0003_drop_items_label.*schema level 2/);
    expect(await count(`SELECT count(*) AS n FROM ${SCHEMA}.service_instances`)).toBe(0);
  });
});
