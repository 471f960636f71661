import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { declaredPackages, dropDatabase, ensureDatabase, migrate, readMigrations, serviceDatabase } from '../src/index';

// Issue 16: `events` (@cos/event-store) and `inbox` (@cos/bus) are the packages' migrations, applied by migrate()
// before a service's own; the copies in each 0001_init.sql were removed (replaces-checksum headers).

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const FIXTURES = path.join(import.meta.dirname, 'fixtures');
const adminBase = process.env.COS_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const newDatabase = async () => {
  const u = new URL(adminBase);
  u.pathname = `/cos_test_pkgmig_${randomBytes(5).toString('hex')}`;
  await ensureDatabase(u.toString());
  return u.toString();
};
const databases: string[] = [];
const temp: string[] = [];
afterAll(async () => {
  await Promise.all(databases.map((d) => dropDatabase(d)));
  await Promise.all(temp.map((d) => rm(d, { recursive: true, force: true })));
});
const tempDir = async () => {
  const d = await mkdtemp(path.join(tmpdir(), 'cos-pkgmig-'));
  temp.push(d);
  return d;
};
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

async function query<T>(adminUrl: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

/**
 * Everything a migration decides about the tables of one schema, from pg_catalog: columns (type, nullability,
 * default), constraints, indexes, row-level security (enabled, forced) and policies. Schema names are stripped so
 * two databases compare equal.
 */
async function schemaShape(adminUrl: string, schema: string): Promise<Record<string, unknown>> {
  const strip = (s: string | null) => (s === null ? null : s.replaceAll(`${schema}.`, ''));
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const q = async <T>(sql: string) => (await c.query(sql, [schema])).rows as Array<T & { rel: string }>;
    const tables = await q<{ rls: boolean; force: boolean }>(
      `SELECT relname AS rel, relrowsecurity AS rls, relforcerowsecurity AS force FROM pg_class
       WHERE relnamespace = $1::regnamespace AND relkind IN ('r', 'p') ORDER BY relname`,
    );
    const columns = await q<{ attname: string; type: string; attnotnull: boolean; def: string | null }>(
      `SELECT c.relname AS rel, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, pg_get_expr(d.adbin, d.adrelid) AS def
       FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum`,
    );
    const constraints = await q<{ conname: string; def: string }>(
      `SELECT c.relname AS rel, k.conname, pg_get_constraintdef(k.oid) AS def FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
       WHERE c.relnamespace = $1::regnamespace ORDER BY c.relname, k.conname`,
    );
    const indexes = await q<{ indexname: string; indexdef: string }>(
      `SELECT tablename AS rel, indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY tablename, indexname`,
    );
    const policies = await q<{ policyname: string; cmd: string; roles: string[]; qual: string | null; with_check: string | null }>(
      `SELECT tablename AS rel, policyname, cmd, roles::text[] AS roles, qual, with_check FROM pg_policies WHERE schemaname = $1 ORDER BY tablename, policyname`,
    );
    const of = <T extends { rel: string }>(rows: T[], rel: string) => rows.filter((r) => r.rel === rel).map(({ rel: _, ...r }) => r);
    const out: Record<string, unknown> = {};
    for (const t of tables) {
      out[t.rel] = {
        rls: t.rls,
        force: t.force,
        // Column defaults name their sequence schema-qualified (nextval('tasks.events_global_position_seq')).
        columns: of(columns, t.rel).map((x) => ({ ...x, def: strip(x.def) })),
        constraints: of(constraints, t.rel),
        indexes: of(indexes, t.rel).map((x) => ({ ...x, indexdef: strip(x.indexdef) })),
        policies: of(policies, t.rel).map((x) => ({ ...x, qual: strip(x.qual), with_check: strip(x.with_check) })),
      };
    }
    return out;
  } finally {
    await c.end();
  }
}

const SCHEMAS: ReadonlyArray<{ svc: string; dir: string; packages: readonly string[] }> = [
  { svc: 'identity', dir: path.join(repoRoot, 'services/identity/migrations'), packages: ['@cos/event-store', '@cos/bus'] },
  { svc: 'tasks', dir: path.join(repoRoot, 'services/tasks/migrations'), packages: ['@cos/event-store', '@cos/bus'] },
  { svc: 'customers', dir: path.join(repoRoot, 'services/customers/migrations'), packages: ['@cos/event-store'] },
  { svc: 'agents', dir: path.join(repoRoot, 'services/agents/migrations'), packages: ['@cos/event-store', '@cos/bus'] },
  { svc: 'mailer', dir: path.join(repoRoot, 'mailer/migrations'), packages: ['@cos/bus'] },
];

const migrateSchema = (adminUrl: string, svc: string, dir: string) => {
  const cfg = serviceDatabase(svc, adminUrl);
  return migrate({ adminUrl, schema: cfg.schema, dir, runtimeRole: cfg.runtimeRole, systemRole: cfg.systemRole, phase: 'contract' });
};

/**
 * The migrations folder of a service as it was before issue 16: today's files with the ones issue 16 edited
 * replaced by their earlier contents (fixtures/pre-issue-16/<svc>/), and no packages.json.
 */
/** Migrations added after issue 16, absent from a database of that time. */
const ADDED_AFTER: Record<string, string[]> = { customers: ['0005_contract_drop_unused_inbox.sql'] };

async function preIssue16Dir(svc: string, dir: string): Promise<string> {
  const old = await tempDir();
  await cp(dir, old, { recursive: true });
  await rm(path.join(old, 'packages.json'));
  for (const f of ADDED_AFTER[svc] ?? []) await rm(path.join(old, f));
  await cp(path.join(FIXTURES, 'pre-issue-16', svc), old, { recursive: true });
  return old;
}

describe('package migrations of the services (events: @cos/event-store, inbox: @cos/bus)', () => {
  let fresh: string;
  let upgraded: string;
  beforeAll(async () => {
    [fresh, upgraded] = await Promise.all([newDatabase(), newDatabase()]);
    databases.push(fresh, upgraded);
    for (const s of SCHEMAS) await migrateSchema(fresh, s.svc, s.dir);
    for (const s of SCHEMAS) await migrateSchema(upgraded, s.svc, await preIssue16Dir(s.svc, s.dir));
  }, 120_000);

  it('the fixtures are the files as applied before: each edited file names their checksum in replaces-checksum', async () => {
    for (const s of SCHEMAS) {
      const current = new Map((await readMigrations(s.dir)).map((m) => [`${String(m.version).padStart(4, '0')}_${m.name}.sql`, m]));
      const files = await readdir(path.join(FIXTURES, 'pre-issue-16', s.svc));
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) {
        const old = await readFile(path.join(FIXTURES, 'pre-issue-16', s.svc, f), 'utf8');
        expect(current.get(f)?.replaces, `${s.svc}/${f}`).toContain(sha256(old));
      }
    }
  });

  it('each service declares the packages it uses: an inbox only where events are consumed', async () => {
    for (const s of SCHEMAS) {
      const declared = await declaredPackages(s.dir);
      expect(declared.map((p) => p.name)).toEqual(s.packages);
      for (const p of declared) expect(p.dir).toBe(path.join(repoRoot, 'packages', p.name.replace('@cos/', ''), 'migrations'));
      const shape = await schemaShape(fresh, s.svc);
      expect('events' in shape, `${s.svc} events`).toBe(s.packages.includes('@cos/event-store'));
      expect('inbox' in shape, `${s.svc} inbox`).toBe(s.packages.includes('@cos/bus'));
    }
  }, 60_000);

  it('a fresh database gets the final shape: events with its tenant policy, inbox with RLS and its retention index', async () => {
    const shape = (await schemaShape(fresh, 'tasks')) as Record<string, { rls: boolean; force: boolean; indexes: Array<{ indexname: string }>; policies: Array<{ policyname: string }> }>;
    expect(shape.events).toMatchObject({ rls: true, force: true });
    expect(shape.events!.policies.map((p) => p.policyname)).toEqual(['events_tenant']);
    expect(shape.events!.indexes.map((i) => i.indexname)).toEqual(['events_id_key', 'events_org_idx', 'events_pkey', 'events_stream_version_unique', 'events_unpublished_idx']);
    expect(shape.inbox).toMatchObject({ rls: true, force: true, policies: [] });
    expect(shape.inbox!.indexes.map((i) => i.indexname)).toEqual(['inbox_pkey', 'inbox_processed_at_idx']);
  });

  it('a database made by the old copies is aligned to exactly the fresh shape (identity and agents inbox gain RLS)', async () => {
    // The drift the copies had: identity's and agents' inbox without row-level security, the mailer's not forced
    // and without the index its retention deletes by.
    type Inbox = { inbox: { rls: boolean; force: boolean; indexes: Array<{ indexname: string }> } };
    const inboxOf = async (svc: string) => ((await schemaShape(upgraded, svc)) as Inbox).inbox;
    expect(await inboxOf('identity')).toMatchObject({ rls: false, force: false });
    expect(await inboxOf('agents')).toMatchObject({ rls: false, force: false });
    expect(await inboxOf('mailer')).toMatchObject({ rls: true, force: false });
    expect(await inboxOf('customers')).toBeDefined();
    expect((await inboxOf('mailer')).indexes.map((i) => i.indexname)).toEqual(['inbox_pkey']);
    for (const s of SCHEMAS) await migrateSchema(upgraded, s.svc, s.dir);
    for (const s of SCHEMAS) {
      const want = await schemaShape(fresh, s.svc);
      const got = await schemaShape(upgraded, s.svc);
      // customers' unused inbox is gone too: 0005 is a contract migration, applied here (phase 'contract').
      expect(got, s.svc).toEqual(want);
    }
    // The records keep what was applied (the pre-issue-16 file), so the previous release still accepts the schema.
    const recorded = await query<{ checksum: string }>(upgraded, 'SELECT checksum FROM identity.schema_migrations WHERE version = 1');
    expect(recorded).toEqual([{ checksum: sha256(await readFile(path.join(FIXTURES, 'pre-issue-16/identity/0001_init.sql'), 'utf8')) }]);
    await migrateSchema(upgraded, 'identity', await preIssue16Dir('identity', SCHEMAS[0]!.dir));
    const pkgs = await query<{ package: string; version: number }>(upgraded, 'SELECT package, version FROM identity.package_migrations ORDER BY package');
    expect(pkgs).toEqual([
      { package: '@cos/bus', version: 1 },
      { package: '@cos/event-store', version: 1 },
    ]);
    // Nothing left to do on a second run.
    for (const s of SCHEMAS) expect((await migrateSchema(upgraded, s.svc, s.dir)).applied, s.svc).toEqual([]);
  }, 120_000);
});

describe('the runner: package migrations and replaces-checksum', () => {
  let adminUrl: string;
  let dir: string;
  let pkgDir: string;
  const svc = serviceDatabase('pkgtest', 'postgres://x@127.0.0.1:5432/x');
  beforeAll(async () => {
    adminUrl = await newDatabase();
    databases.push(adminUrl);
    dir = await tempDir();
    pkgDir = await tempDir();
  });
  const run = (o: { packages?: Array<{ name: string; dir: string }> } = {}) =>
    migrate({ adminUrl, schema: 'pkgtest', dir, packages: o.packages ?? [{ name: '@test/thing', dir: pkgDir }], runtimeRole: svc.runtimeRole, systemRole: svc.systemRole });

  it('applies a package migration before the service migrations, once, tracked apart from them', async () => {
    await writeFile(path.join(pkgDir, '0001_things.sql'), 'CREATE TABLE IF NOT EXISTS things (id int PRIMARY KEY);');
    // The service's first migration uses the package's table: it only works if the package's ran first.
    await writeFile(path.join(dir, '0001_init.sql'), 'CREATE INDEX things_desc_idx ON things (id DESC);');
    expect((await run()).applied).toEqual(['@test/thing/1_things', '1_init']);
    expect((await run()).applied).toEqual([]);
    expect(await query(adminUrl, 'SELECT package, version, name FROM pkgtest.package_migrations')).toEqual([{ package: '@test/thing', version: 1, name: 'things' }]);
    expect(await query(adminUrl, 'SELECT version, name FROM pkgtest.schema_migrations')).toEqual([{ version: 1, name: 'init' }]);
  });

  it('accepts an applied migration edited with a replaces-checksum header naming the applied contents', async () => {
    const old = await readFile(path.join(dir, '0001_init.sql'), 'utf8');
    const edited = `-- replaces-checksum: ${'0'.repeat(64)}\n-- replaces-checksum: ${sha256(old)}\n-- the index moved elsewhere\nSELECT 1;\n`;
    await writeFile(path.join(dir, '0001_init.sql'), edited);
    expect((await run()).applied).toEqual([]);
    // The record still says what was applied, so the previous release (old file) accepts this database too.
    expect(await query(adminUrl, 'SELECT checksum FROM pkgtest.schema_migrations WHERE version = 1')).toEqual([{ checksum: sha256(old) }]);
    await writeFile(path.join(dir, '0001_init.sql'), old);
    expect((await run()).applied).toEqual([]);
    await writeFile(path.join(dir, '0001_init.sql'), edited);
    expect((await run()).applied).toEqual([]);
  });

  it('still refuses an edit without the header, one whose header names other contents, and one below the header', async () => {
    const current = await readFile(path.join(dir, '0001_init.sql'), 'utf8');
    await writeFile(path.join(dir, '0001_init.sql'), 'SELECT 2;\n');
    await expect(run()).rejects.toThrow(/0001_init was edited after it was applied/);
    await writeFile(path.join(dir, '0001_init.sql'), `-- replaces-checksum: ${sha256('something else')}\nSELECT 2;\n`);
    await expect(run()).rejects.toThrow(/was edited after it was applied/);
    // Only the leading comment block is the header.
    await writeFile(path.join(dir, '0001_init.sql'), `SELECT 2;\n-- replaces-checksum: ${sha256(current)}\n`);
    await expect(run()).rejects.toThrow(/was edited after it was applied/);
    await writeFile(path.join(dir, '0001_init.sql'), current);
    expect((await run()).applied).toEqual([]);
  });

  it('refuses an edited package migration too, and accepts it with the header', async () => {
    const old = await readFile(path.join(pkgDir, '0001_things.sql'), 'utf8');
    await writeFile(path.join(pkgDir, '0001_things.sql'), 'CREATE TABLE IF NOT EXISTS things (id int PRIMARY KEY, x int);');
    await expect(run()).rejects.toThrow(/pkgtest\/@test\/thing\/0001_things was edited after it was applied/);
    const edited = `-- replaces-checksum: ${sha256(old)}\nCREATE TABLE IF NOT EXISTS things (id int PRIMARY KEY);\n`;
    await writeFile(path.join(pkgDir, '0001_things.sql'), edited);
    expect((await run()).applied).toEqual([]);
    expect(await query(adminUrl, 'SELECT checksum FROM pkgtest.package_migrations')).toEqual([{ checksum: sha256(old) }]);
  });

  it('keeps the bookkeeping from the service roles and refuses contract package migrations', async () => {
    const urls = serviceDatabase('pkgtest', adminUrl);
    await expect(query(urls.runtimeUrl, 'SELECT * FROM pkgtest.package_migrations')).rejects.toThrow(/permission denied/);
    await expect(query(urls.systemUrl, 'SELECT * FROM pkgtest.package_migrations')).rejects.toThrow(/permission denied/);
    const contractPkg = await tempDir();
    await writeFile(path.join(contractPkg, '0001_contract_drop.sql'), 'SELECT 1;');
    await expect(run({ packages: [{ name: '@test/contract', dir: contractPkg }] })).rejects.toThrow(/expand-only/);
  });

  it('reads packages.json: names resolved like imports from the migrations folder; an unresolvable name is an error', async () => {
    const svcDir = path.join(repoRoot, 'services/tasks/migrations');
    expect(await declaredPackages(svcDir)).toEqual([
      { name: '@cos/event-store', dir: path.join(repoRoot, 'packages/event-store/migrations') },
      { name: '@cos/bus', dir: path.join(repoRoot, 'packages/bus/migrations') },
    ]);
    expect(await declaredPackages(dir)).toEqual([]); // no packages.json
    const bad = await tempDir();
    await mkdir(bad, { recursive: true });
    await writeFile(path.join(bad, 'packages.json'), '["@cos/no-such-package"]');
    await expect(declaredPackages(bad)).rejects.toThrow(/does not resolve/);
    await writeFile(path.join(bad, 'packages.json'), '{"packages": []}');
    await expect(declaredPackages(bad)).rejects.toThrow(/JSON array/);
  });
});
