import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import pg from 'pg';
import { quoteIdent } from './pool';
import { parseBackfillSpec, runBackfill, type BackfillOptions, type BackfillResult, type BackfillSpec } from './backfill';

export interface MigrateOptions {
  /** A superuser (or schema owner with CREATEROLE) connection to the target database. */
  adminUrl: string;
  /** The service's Postgres schema, e.g. "tasks". */
  schema: string;
  /** Folder of `NNNN_name.sql` files (and optionally `packages.json`, see {@link PackageMigrations}). */
  dir: string;
  /**
   * Packages whose own migrations (the event store's `events`, the bus's `inbox`) are applied to this schema before
   * the service's, tracked in `package_migrations`. Default: the package names listed in `<dir>/packages.json`,
   * each resolved from `dir` to its package's `migrations/` folder.
   */
  packages?: PackageMigrations[];
  /** Runtime role (row-level security applies) and system role (BYPASSRLS: relay, consumers, rebuild). */
  runtimeRole: string;
  systemRole: string;
  /** Optional password for both roles (production); local trust auth needs none. */
  rolePassword?: string;
  log?: (msg: string) => void;
  /**
   * `expand` (default; `pnpm migrate`, MIGRATE_ON_START): applies pending migrations in order up to the first pending
   * contract migration and runs the backfills of applied ones. `contract` (`pnpm migrate --contract`): also applies
   * contract migrations, each only when every live registered instance runs code that knows it
   * ({@link ContractBlockedError} otherwise) and every earlier backfill has finished.
   */
  phase?: MigrationPhase;
  /** Apply nothing above this version (tests, drills: "the schema of an older release"). */
  maxVersion?: number;
  /** Rows per backfill batch (default 1000). */
  backfillBatchSize?: number;
  /** Passed to each backfill (progress reporting, tests). */
  onBackfillBatch?: BackfillOptions['onBatch'];
}

export type MigrationPhase = 'expand' | 'contract';

export interface MigrationFile {
  version: number;
  name: string;
  sql: string;
  checksum: string;
  /** From the file name (`NNNN_contract_<what>.sql`) or a `-- phase: contract` header line; anything else is expand. */
  phase: MigrationPhase;
  /** A `NNNN_<name>.backfill.json` next to the file: the batched data migration that follows this schema change. */
  backfill?: BackfillSpec;
  /**
   * `-- replaces-checksum: <sha256>` lines of the leading comment block: earlier contents of this file that are
   * equivalent on a database where they were applied (e.g. DDL moved into a package migration). A database that
   * recorded one of them is accepted (its record is left as applied); any other edit is still refused.
   */
  replaces: string[];
}

/** A package's migrations folder (`NNNN_name.sql`, expand only), applied to every schema that declares the package. */
export interface PackageMigrations {
  /** The package name, e.g. "@cos/event-store": the key in `package_migrations`. */
  name: string;
  dir: string;
}

/** Thrown when a contract migration must wait: an older instance is live, or a backfill has not finished. */
export class ContractBlockedError extends Error {
  constructor(
    message: string,
    readonly blockers: InstanceRow[] = [],
  ) {
    super(message);
    this.name = 'ContractBlockedError';
  }
}

export async function readMigrations(dir: string): Promise<MigrationFile[]> {
  const all = await readdir(dir);
  const files = all.filter((f) => f.endsWith('.sql')).sort();
  const out: MigrationFile[] = [];
  for (const file of files) {
    const m = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!m) throw new Error(`migration file name must be NNNN_name.sql: ${file}`);
    const sql = await readFile(path.join(dir, file), 'utf8');
    const version = Number(m[1]);
    if (out.some((x) => x.version === version)) throw new Error(`duplicate migration version ${version} in ${dir}`);
    const header = /^--\s*phase:\s*(expand|contract)\s*$/im.exec(sql.split('\n').slice(0, 10).join('\n'));
    const phase: MigrationPhase = m[2]!.startsWith('contract_') || header?.[1] === 'contract' ? 'contract' : 'expand';
    const backfillFile = file.replace(/\.sql$/, '.backfill.json');
    const backfill = all.includes(backfillFile) ? parseBackfillSpec(await readFile(path.join(dir, backfillFile), 'utf8'), backfillFile) : undefined;
    if (backfill && phase === 'contract') throw new Error(`${backfillFile}: a backfill belongs to an expand migration`);
    out.push({ version, name: m[2]!, sql, checksum: createHash('sha256').update(sql).digest('hex'), phase, backfill, replaces: replacedChecksums(sql, file) });
  }
  for (const f of all) {
    if (f.endsWith('.backfill.json') && !files.includes(f.replace(/\.backfill\.json$/, '.sql'))) throw new Error(`${f} has no migration ${f.replace(/\.backfill\.json$/, '.sql')}`);
  }
  return out;
}

function replacedChecksums(sql: string, file: string): string[] {
  const out: string[] = [];
  for (const line of sql.split('\n')) {
    const l = line.trim();
    if (l === '') continue;
    if (!l.startsWith('--')) break; // only the leading comment block is the header
    const m = /^--\s*replaces-checksum:\s*(\S+)\s*$/i.exec(l);
    if (!m) continue;
    if (!/^[0-9a-f]{64}$/.test(m[1]!)) throw new Error(`${file}: replaces-checksum must be a lowercase sha256 hex digest, got ${m[1]}`);
    out.push(m[1]!);
  }
  return out;
}

/**
 * The packages a service's migrations folder declares in `packages.json` (a JSON array of package names, e.g.
 * `["@cos/event-store", "@cos/bus"]`), each resolved from `dir` like an import (so the service must depend on it)
 * to the `migrations/` folder at the package's root. No file: no packages.
 */
export async function declaredPackages(dir: string): Promise<PackageMigrations[]> {
  const file = path.join(dir, 'packages.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return [];
    throw err;
  }
  const names: unknown = JSON.parse(text);
  if (!Array.isArray(names) || !names.every((n): n is string => typeof n === 'string')) throw new Error(`${file} must be a JSON array of package names`);
  const require = createRequire(file);
  return Promise.all(
    names.map(async (name) => {
      let entry: string;
      try {
        entry = require.resolve(name);
      } catch (err) {
        throw new Error(`${file} names ${name}, which does not resolve from ${dir} (a dependency of the service?)`, { cause: err });
      }
      for (let d = path.dirname(entry); d !== path.dirname(d); d = path.dirname(d)) {
        const pkg = await readFile(path.join(d, 'package.json'), 'utf8').catch(() => null);
        if (pkg !== null && (JSON.parse(pkg) as { name?: string }).name === name) return { name, dir: path.join(d, 'migrations') };
      }
      throw new Error(`${file}: no package.json named ${name} above ${entry}`);
    }),
  );
}

/** The schema level code built from `dir` is written for: its highest migration version. */
export async function schemaLevelOf(dir: string): Promise<number> {
  const migrations = await readMigrations(dir);
  return migrations.reduce((max, m) => Math.max(max, m.version), 0);
}

/**
 * Applies pending migrations for one service under a Postgres advisory lock (safe with many instances starting at
 * once), each in its own transaction, recording a sha256 checksum: first those of the packages the service declares
 * (`packages`, default `<dir>/packages.json`: the event store's `events`, the bus's `inbox`) in `package_migrations`,
 * then the service's own in `schema_migrations`. An applied migration whose file changed is refused unless its
 * `-- replaces-checksum:` header names the applied contents: write a new migration instead (docs/migrations.md).
 */
export async function migrate(opts: MigrateOptions): Promise<MigrateResult> {
  if (opts.phase !== 'contract') return migrateOnce(opts, 'expand');
  // Expand first (its backfills run to the end), then the contract migrations and anything after them.
  const first = await migrateOnce(opts, 'expand', true);
  const second = await migrateOnce(opts, 'contract');
  return { applied: [...first.applied, ...second.applied], backfilled: [...first.backfilled, ...second.backfilled], pendingContract: null };
}

async function migrateOnce(opts: MigrateOptions, phase: MigrationPhase, contractNext = false): Promise<MigrateResult> {
  const log = opts.log ?? (() => {});
  const migrations = (await readMigrations(opts.dir)).filter((m) => opts.maxVersion === undefined || m.version <= opts.maxVersion);
  const packages = await readPackageMigrations(opts.packages ?? (await declaredPackages(opts.dir)));
  const client = new pg.Client({ connectionString: opts.adminUrl, application_name: `migrate:${opts.schema}` });
  await client.connect();
  const schema = quoteIdent(opts.schema);
  const runtime = quoteIdent(opts.runtimeRole);
  const system = quoteIdent(opts.systemRole);
  const applied: string[] = [];
  const backfilled: BackfillResult[] = [];
  let pendingContract: string | null = null;
  try {
    await client.query(`SET lock_timeout = '60s'`);
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`cos-migrate:${opts.schema}`]);
    await ensureRole(client, opts.runtimeRole, 'NOBYPASSRLS', opts.rolePassword);
    await ensureRole(client, opts.systemRole, 'BYPASSRLS', opts.rolePassword);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (
      version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    await client.query(`ALTER TABLE ${schema}.schema_migrations ADD COLUMN IF NOT EXISTS phase text NOT NULL DEFAULT 'expand'`);
    await ensureOpsTables(client, schema);
    // The packages' tables first: the service's own migrations may index or reference them.
    for (const p of packages) {
      const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
        `SELECT version, name, checksum FROM ${schema}.package_migrations WHERE package = $1`,
        [p.name],
      );
      const done = new Map(rows.map((r) => [r.version, r]));
      for (const m of p.migrations) {
        const label = `${opts.schema}/${p.name}/${String(m.version).padStart(4, '0')}_${m.name}`;
        const prev = done.get(m.version);
        if (prev) {
          assertUnchanged(label, prev.checksum, m);
          continue;
        }
        await applyInTransaction(client, schema, label, m, `INSERT INTO ${schema}.package_migrations (package, version, name, checksum) VALUES ($1, $2, $3, $4)`, [
          p.name,
          m.version,
          m.name,
          m.checksum,
        ]);
        applied.push(`${p.name}/${m.version}_${m.name}`);
        log(`applied ${label}`);
      }
    }
    const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
      `SELECT version, name, checksum FROM ${schema}.schema_migrations ORDER BY version`,
    );
    const done = new Map(rows.map((r) => [r.version, r]));
    const label = (m: MigrationFile) => `${opts.schema}/${String(m.version).padStart(4, '0')}_${m.name}`;
    for (const m of migrations) {
      const prev = done.get(m.version);
      if (!prev && m.phase === 'contract') {
        if (phase !== 'contract') {
          // Later migrations may depend on it: nothing after a pending contract is applied either.
          pendingContract = label(m);
          if (!contractNext) log(`${label(m)} is a contract migration: run \`pnpm migrate --contract\` once every instance runs the new code`);
          break;
        }
      }
      if (prev) {
        assertUnchanged(label(m), prev.checksum, m);
        continue;
      }
      await applyInTransaction(
        client,
        schema,
        label(m),
        m,
        `INSERT INTO ${schema}.schema_migrations (version, name, checksum, phase) VALUES ($1, $2, $3, $4)`,
        [m.version, m.name, m.checksum, m.phase],
        m.phase === 'contract'
          ? async () => {
              // Checked inside the migration's transaction with registrations locked out: an instance starting now
              // waits for the commit, then sees the contract applied and refuses to start if its code predates it.
              await client.query(`LOCK TABLE ${schema}.service_instances IN SHARE ROW EXCLUSIVE MODE`);
              await assertContractAllowed(client, schema, opts.schema, m, migrations);
            }
          : undefined,
      );
      applied.push(`${m.version}_${m.name}`);
      log(`applied ${label(m)} (${m.phase})`);
    }
    // Each service role touches only its own schema.
    for (const role of [runtime, system]) {
      await client.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
      await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${role}`);
      await client.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${schema} TO ${role}`);
      await client.query(`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${schema} TO ${role}`);
    }
    await client.query(`REVOKE ALL ON ${schema}.schema_migrations, ${schema}.package_migrations, ${schema}.backfill_progress FROM ${runtime}, ${system}`);
    await client.query(`REVOKE ALL ON ${schema}.service_instances FROM ${runtime}`);
    // The instance registry is the system role's (service-kit registers, heartbeats, deregisters); it reads
    // schema_migrations to refuse starting code older than an applied contract.
    await client.query(`GRANT SELECT ON ${schema}.schema_migrations TO ${system}`);
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`cos-migrate:${opts.schema}`]).catch(() => {});
    await client.end();
  }
  // Backfills run after the lock is released, outside any migration transaction, one short transaction per batch:
  // they may take hours on a large table while the service keeps serving (the expand migration's trigger or the
  // dual-writing code keeps new rows right). Each backfill has its own lock, so two runners never do the same batch.
  const appliedNow = migrations.some((m) => m.backfill) ? await appliedVersions(opts) : new Set<number>();
  for (const m of migrations) {
    if (!m.backfill || !appliedNow.has(m.version)) continue;
    const r = await runBackfill({
      adminUrl: opts.adminUrl,
      schema: opts.schema,
      name: `${String(m.version).padStart(4, '0')}_${m.name}`,
      spec: m.backfill,
      batchSize: opts.backfillBatchSize,
      onBatch: opts.onBackfillBatch,
      log,
    });
    if (!r.alreadyDone) backfilled.push(r);
  }
  return { applied, backfilled, pendingContract };
}

/**
 * An applied migration whose file changed is refused, unless the recorded checksum is one the file's header declares
 * it replaces. The record keeps the checksum of what was applied: the previous release's runner, which still ships
 * the old file, then accepts the schema too (a rollback, an old instance starting with MIGRATE_ON_START).
 */
function assertUnchanged(label: string, recorded: string, m: MigrationFile): void {
  if (recorded === m.checksum || m.replaces.includes(recorded)) return;
  throw new Error(
    `migration ${label} was edited after it was applied (checksum ${recorded.slice(0, 12)} != ${m.checksum.slice(0, 12)}); add a new migration instead`,
  );
}

/**
 * Runs one migration and its bookkeeping insert (`record`) in one transaction, on the schema's search_path. `before`
 * runs first in the same transaction (a contract migration's instance check); a ContractBlockedError it throws
 * propagates as it is.
 */
async function applyInTransaction(
  client: pg.Client,
  schema: string,
  label: string,
  m: MigrationFile,
  record: string,
  params: unknown[],
  before?: () => Promise<void>,
): Promise<void> {
  await client.query('BEGIN');
  try {
    if (before) await before();
    await client.query(`SET LOCAL search_path TO ${schema}`);
    await client.query(m.sql);
    await client.query(record, params);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    if (err instanceof ContractBlockedError) throw err;
    throw new Error(`migration ${label} failed: ${(err as Error).message}`, { cause: err });
  }
}

async function readPackageMigrations(packages: PackageMigrations[]): Promise<Array<PackageMigrations & { migrations: MigrationFile[] }>> {
  const names = packages.map((p) => p.name);
  if (new Set(names).size !== names.length) throw new Error(`a package is declared twice: ${names.join(', ')}`);
  return Promise.all(
    packages.map(async (p) => {
      const migrations = await readMigrations(p.dir);
      for (const m of migrations) {
        // A package's tables live in every schema that uses it and no instance registry covers packages.
        if (m.phase === 'contract' || m.backfill) throw new Error(`${p.name} migration ${m.version}_${m.name}: package migrations are expand-only, without backfills`);
      }
      return { ...p, migrations };
    }),
  );
}

export interface MigrateResult {
  /** `NNNN_name` of the migrations applied by this run (`<package>/NNNN_name` for a package's). */
  applied: string[];
  /** Backfills that ran (or resumed) in this run. */
  backfilled: BackfillResult[];
  /** The first contract migration left pending (expand phase), `schema/NNNN_name`, or null. */
  pendingContract: string | null;
}

async function appliedVersions(opts: MigrateOptions): Promise<Set<number>> {
  const c = new pg.Client({ connectionString: opts.adminUrl, application_name: `migrate:${opts.schema}` });
  await c.connect();
  try {
    const { rows } = await c.query<{ version: number }>(`SELECT version FROM ${quoteIdent(opts.schema)}.schema_migrations`);
    return new Set(rows.map((r) => r.version));
  } finally {
    await c.end();
  }
}

/**
 * The runner's own tables in every service schema (not numbered migrations: they exist before the first one):
 * - package_migrations: the migrations of the packages the service uses (events, inbox), like schema_migrations;
 * - service_instances: every running process of the service (service-kit registers it at startup, heartbeats,
 *   removes it at shutdown; a row whose heartbeat stopped expires), with the schema level its code is written for;
 * - backfill_progress: one row per backfill, its checkpoint (last key done) and counters.
 */
async function ensureOpsTables(client: pg.Client, schema: string): Promise<void> {
  await client.query(`CREATE TABLE IF NOT EXISTS ${schema}.service_instances (
    id text PRIMARY KEY,
    service text NOT NULL,
    host text NOT NULL,
    pid int NOT NULL,
    code_version text NOT NULL,
    schema_level int NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL)`);
  await client.query(`CREATE TABLE IF NOT EXISTS ${schema}.backfill_progress (
    name text PRIMARY KEY,
    table_name text NOT NULL,
    last_key text,
    rows_scanned bigint NOT NULL DEFAULT 0,
    rows_updated bigint NOT NULL DEFAULT 0,
    batches int NOT NULL DEFAULT 0,
    rows_estimate bigint,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz)`);
  await client.query(`CREATE TABLE IF NOT EXISTS ${schema}.package_migrations (
    package text NOT NULL,
    version int NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (package, version))`);
}

/** A registered, live instance of a service (service_instances). */
export interface InstanceRow {
  id: string;
  service: string;
  host: string;
  pid: number;
  code_version: string;
  schema_level: number;
  started_at: Date;
  heartbeat_at: Date;
}

/** Live instances (heartbeat not expired) of the service whose schema is `schema`. Expired rows are deleted. */
export async function liveInstances(client: pg.Client | pg.Pool, schema: string): Promise<InstanceRow[]> {
  const s = quoteIdent(schema);
  await client.query(`DELETE FROM ${s}.service_instances WHERE expires_at < now()`);
  const { rows } = await client.query<InstanceRow>(
    `SELECT id, service, host, pid, code_version, schema_level, started_at, heartbeat_at FROM ${s}.service_instances ORDER BY started_at`,
  );
  return rows;
}

async function assertContractAllowed(client: pg.Client, schema: string, service: string, m: MigrationFile, all: MigrationFile[]) {
  const name = `${service}/${String(m.version).padStart(4, '0')}_${m.name}`;
  const older = (await liveInstances(client, service)).filter((i) => i.schema_level < m.version);
  if (older.length > 0) {
    const list = older
      .map((i) => `${i.id} (host ${i.host}, pid ${i.pid}, code ${i.code_version}, schema level ${i.schema_level}, last heartbeat ${i.heartbeat_at.toISOString()})`)
      .join('; ');
    throw new ContractBlockedError(
      `contract migration ${name} refused: ${older.length} running instance(s) of ${service} run code older than migration ${m.version}: ${list}. ` +
        `Roll out the new code first (a stopped instance's registration expires ${INSTANCE_TTL_SECONDS} s after its last heartbeat).`,
      older,
    );
  }
  const earlierBackfills = all.filter((x) => x.version < m.version && x.backfill).map((x) => `${String(x.version).padStart(4, '0')}_${x.name}`);
  if (earlierBackfills.length > 0) {
    const { rows } = await client.query<{ name: string }>(`SELECT name FROM ${schema}.backfill_progress WHERE finished_at IS NOT NULL AND name = ANY($1)`, [
      earlierBackfills,
    ]);
    const unfinished = earlierBackfills.filter((b) => !rows.some((r) => r.name === b));
    if (unfinished.length > 0) {
      throw new ContractBlockedError(`contract migration ${name} refused: backfill ${unfinished.join(', ')} has not finished; run \`pnpm migrate\` (it resumes) first`);
    }
  }
}

/** How long an instance's registration outlives its last heartbeat (service-kit heartbeats every 5 s). */
export const INSTANCE_TTL_SECONDS = 20;

/**
 * Creates (or updates) a service's runtime (NOBYPASSRLS) and system (BYPASSRLS) login roles: what a restore needs
 * before its GRANTs and policies can be replayed into a cluster that never ran the migrations.
 */
export async function ensureServiceRoles(client: pg.Client, runtimeRole: string, systemRole: string, password?: string): Promise<void> {
  await ensureRole(client, runtimeRole, 'NOBYPASSRLS', password);
  await ensureRole(client, systemRole, 'BYPASSRLS', password);
}

async function ensureRole(client: pg.Client, role: string, rls: 'BYPASSRLS' | 'NOBYPASSRLS', password?: string) {
  const ident = quoteIdent(role);
  const pw = password ? ` PASSWORD ${pg.escapeLiteral(password)}` : '';
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
    if (!rowCount) await client.query(`CREATE ROLE ${ident} LOGIN ${rls} NOSUPERUSER NOCREATEDB NOCREATEROLE${pw}`);
    else await client.query(`ALTER ROLE ${ident} LOGIN ${rls} NOSUPERUSER${pw}`);
  } catch (err) {
    // Roles are cluster-wide; another database's migration may create it at the same moment.
    const code = (err as { code?: string }).code;
    if (code !== '42710' && code !== '23505' && code !== 'XX000') throw err;
  }
}
