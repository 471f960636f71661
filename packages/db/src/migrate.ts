import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { quoteIdent } from './pool';

export interface MigrateOptions {
  /** A superuser (or schema owner with CREATEROLE) connection to the target database. */
  adminUrl: string;
  /** The service's Postgres schema, e.g. "tasks". */
  schema: string;
  /** Folder of `NNNN_name.sql` files. */
  dir: string;
  /** Runtime role (row-level security applies) and system role (BYPASSRLS: relay, consumers, rebuild). */
  runtimeRole: string;
  systemRole: string;
  /** Optional password for both roles (production); local trust auth needs none. */
  rolePassword?: string;
  log?: (msg: string) => void;
}

export interface MigrationFile {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export async function readMigrations(dir: string): Promise<MigrationFile[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const out: MigrationFile[] = [];
  for (const file of files) {
    const m = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!m) throw new Error(`migration file name must be NNNN_name.sql: ${file}`);
    const sql = await readFile(path.join(dir, file), 'utf8');
    const version = Number(m[1]);
    if (out.some((x) => x.version === version)) throw new Error(`duplicate migration version ${version} in ${dir}`);
    out.push({ version, name: m[2]!, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return out;
}

/**
 * Applies pending migrations for one service under a Postgres advisory lock (safe with many instances starting at
 * once), each in its own transaction, recording a sha256 checksum. An applied migration whose file changed is
 * refused: write a new migration instead (expand/contract, see README).
 */
export async function migrate(opts: MigrateOptions): Promise<{ applied: string[] }> {
  const log = opts.log ?? (() => {});
  const migrations = await readMigrations(opts.dir);
  const client = new pg.Client({ connectionString: opts.adminUrl, application_name: `migrate:${opts.schema}` });
  await client.connect();
  const schema = quoteIdent(opts.schema);
  const runtime = quoteIdent(opts.runtimeRole);
  const system = quoteIdent(opts.systemRole);
  const applied: string[] = [];
  try {
    await client.query(`SET lock_timeout = '60s'`);
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`cos-migrate:${opts.schema}`]);
    await ensureRole(client, opts.runtimeRole, 'NOBYPASSRLS', opts.rolePassword);
    await ensureRole(client, opts.systemRole, 'BYPASSRLS', opts.rolePassword);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (
      version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
      `SELECT version, name, checksum FROM ${schema}.schema_migrations ORDER BY version`,
    );
    const done = new Map(rows.map((r) => [r.version, r]));
    for (const m of migrations) {
      const prev = done.get(m.version);
      if (prev) {
        if (prev.checksum !== m.checksum) {
          throw new Error(
            `migration ${opts.schema}/${String(m.version).padStart(4, '0')}_${m.name} was edited after it was applied ` +
              `(checksum ${prev.checksum.slice(0, 12)} != ${m.checksum.slice(0, 12)}); add a new migration instead`,
          );
        }
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL search_path TO ${schema}`);
        await client.query(m.sql);
        await client.query(`INSERT INTO ${schema}.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`, [
          m.version,
          m.name,
          m.checksum,
        ]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${opts.schema}/${m.version}_${m.name} failed: ${(err as Error).message}`, { cause: err });
      }
      applied.push(`${m.version}_${m.name}`);
      log(`applied ${opts.schema}/${String(m.version).padStart(4, '0')}_${m.name}`);
    }
    // Each service role touches only its own schema.
    for (const role of [runtime, system]) {
      await client.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
      await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${role}`);
      await client.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${schema} TO ${role}`);
      await client.query(`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${schema} TO ${role}`);
    }
    await client.query(`REVOKE ALL ON ${schema}.schema_migrations FROM ${runtime}, ${system}`);
    return { applied };
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`cos-migrate:${opts.schema}`]).catch(() => {});
    await client.end();
  }
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
