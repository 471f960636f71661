/**
 * Backups and restores (docs/backup-restore.md): one `pg_dump --format=custom` file per service schema, all taken
 * from ONE exported snapshot (consistent across services while the stack keeps writing), a manifest with versions,
 * sha256 checksums and per-table row counts and content hashes computed in that same snapshot; restore verifies the
 * files, restores into a FRESH database, verifies every table against the manifest and rebuilds the JetStream stream
 * from the events tables (the source of truth) with the event id as the message id.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { connectBus, eventHeaders, subjectFor } from '@cos/bus';
import { ensureDatabase, ensureServiceRoles, quoteIdent, serviceDatabase } from '@cos/db';
import { toStored, type EventRow } from '@cos/event-store';
import { createLogger } from '@cos/logger';
import { SCHEMAS, SERVICES, repoRoot, type SchemaName } from './paths';

const run = promisify(execFile);
/** pg_dump/pg_restore of a large schema may take long; a stuck one must still end. */
const TOOL_TIMEOUT_MS = 60 * 60_000;

export const MANIFEST_FORMAT = 'cos-backup/1';

export interface TableStats {
  rows: number;
  /** sha256 of the table's rows as text, sorted: equal hashes = equal contents. */
  sha256: string;
}

export interface ServiceBackup {
  file: string;
  bytes: number;
  sha256: string;
  /** Highest applied migration version. */
  schemaLevel: number;
  events: number;
  tables: Record<string, TableStats>;
}

export interface BackupManifest {
  format: typeof MANIFEST_FORMAT;
  createdAt: string;
  database: string;
  postgres: string;
  pgDump: string;
  gitCommit: string | null;
  /** The snapshot every file and every figure below was taken from. */
  snapshot: string;
  services: Record<string, ServiceBackup>;
  jetstream: { strategy: 'rebuild-from-events'; note: string };
  durationMs: number;
}

const dbName = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1));
const redact = (url: string) => {
  const u = new URL(url);
  u.password = '';
  return u.toString();
};

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Row count and content hash of every table of `schema`, in the caller's transaction (snapshot). Rows are hashed
 * as their text form in sorted order, so the hash does not depend on physical order.
 */
export async function schemaStats(c: pg.Client | pg.PoolClient, schema: string): Promise<Record<string, TableStats>> {
  const tables = (
    await c.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = $1 ORDER BY tablename`, [schema])
  ).rows.map((r) => r.t);
  const out: Record<string, TableStats> = {};
  for (const t of tables) {
    const ident = `${quoteIdent(schema)}.${quoteIdent(t)}`;
    const r = (
      await c.query<{ rows: string; sha256: string | null }>(
        `SELECT count(*) AS rows, encode(sha256(convert_to(coalesce(string_agg(x.r, E'\\n' ORDER BY x.r), ''), 'UTF8')), 'hex') AS sha256
         FROM (SELECT t::text AS r FROM ${ident} t) x`,
      )
    ).rows[0]!;
    out[t] = { rows: Number(r.rows), sha256: r.sha256 ?? '' };
  }
  return out;
}

async function gitCommit(): Promise<string | null> {
  try {
    return (await run('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, timeout: 5_000 })).stdout.trim();
  } catch {
    return null;
  }
}

export interface BackupOptions {
  adminUrl: string;
  outDir: string;
  /** Schemas to back up: the four services and the mailer by default. */
  services?: readonly SchemaName[];
  log?: (m: string) => void;
}

/** `pnpm backup`: see the module comment. Returns the manifest (also written to <outDir>/manifest.json). */
export async function backup(opts: BackupOptions): Promise<BackupManifest> {
  const log = opts.log ?? console.log;
  const started = Date.now();
  const services = opts.services ?? SCHEMAS;
  await mkdir(opts.outDir, { recursive: true });
  const c = new pg.Client({ connectionString: opts.adminUrl, application_name: 'cos-backup', connectionTimeoutMillis: 5_000 });
  await c.connect();
  try {
    // The exporting transaction stays open until every pg_dump has imported its snapshot (they run while it is).
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await c.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]!.s;
    const postgres = (await c.query<{ v: string }>('SHOW server_version')).rows[0]!.v;
    const pgDump = (await run('pg_dump', ['--version'], { timeout: 5_000 })).stdout.trim();
    const dumps = services.map(async (svc) => {
      const file = path.join(opts.outDir, `${svc}.dump`);
      await run('pg_dump', ['--format=custom', '--compress=6', `--schema=${svc}`, `--snapshot=${snapshot}`, `--file=${file}`, `--dbname=${opts.adminUrl}`], {
        timeout: TOOL_TIMEOUT_MS,
      });
      return file;
    });
    const result: Record<string, ServiceBackup> = {};
    // Figures from the same snapshot while the dumps run.
    for (const svc of services) {
      const tables = await schemaStats(c, svc);
      const level = await c.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${quoteIdent(svc)}.schema_migrations`);
      result[svc] = { file: `${svc}.dump`, bytes: 0, sha256: '', schemaLevel: level.rows[0]!.v ?? 0, events: tables.events?.rows ?? 0, tables };
    }
    const files = await Promise.all(dumps);
    await c.query('COMMIT');
    for (const [i, svc] of services.entries()) {
      const f = files[i]!;
      result[svc]!.bytes = (await stat(f)).size;
      result[svc]!.sha256 = await sha256File(f);
      log(`${svc}: ${result[svc]!.file} ${result[svc]!.bytes} bytes, ${result[svc]!.events} events, ${Object.keys(result[svc]!.tables).length} tables`);
    }
    const manifest: BackupManifest = {
      format: MANIFEST_FORMAT,
      createdAt: new Date().toISOString(),
      database: dbName(opts.adminUrl),
      postgres,
      pgDump,
      gitCommit: await gitCommit(),
      snapshot,
      services: result,
      jetstream: {
        strategy: 'rebuild-from-events',
        note: 'JetStream is not dumped: `pnpm restore` republishes every event of every service from its events table (msgID = event id) into the target prefix',
      },
      durationMs: Date.now() - started,
    };
    await writeFile(path.join(opts.outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    log(`backup of ${manifest.database} written to ${opts.outDir} in ${manifest.durationMs} ms`);
    return manifest;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    await c.end();
  }
}

export async function readManifest(dir: string): Promise<BackupManifest> {
  const m = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as BackupManifest;
  if (m.format !== MANIFEST_FORMAT) throw new Error(`${dir}/manifest.json: unknown format ${String(m.format)}`);
  return m;
}

/** Differences between expected and actual table figures, one line each (empty: equal). */
export function compareStats(service: string, expected: Record<string, TableStats>, actual: Record<string, TableStats>, only?: readonly string[]): string[] {
  const diffs: string[] = [];
  const names = only ?? [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  for (const t of names) {
    const e = expected[t];
    const a = actual[t];
    if (!e || !a) diffs.push(`${service}.${t}: ${e ? 'missing after restore' : 'not in the backup'}`);
    else if (e.rows !== a.rows) diffs.push(`${service}.${t}: ${a.rows} rows, expected ${e.rows}`);
    else if (e.sha256 !== a.sha256) diffs.push(`${service}.${t}: contents differ (sha256 ${a.sha256.slice(0, 12)} != ${e.sha256.slice(0, 12)})`);
  }
  return diffs;
}

export interface RestoreOptions {
  backupDir: string;
  /** Admin URL of the database to restore into: created if missing, must not hold the services' schemas yet. */
  targetAdminUrl: string;
  /** Rebuild the JetStream stream of this prefix from the events tables (omit: skip, the relay will not re-send). */
  jetstream?: { natsUrl: string; subjectPrefix: string };
  log?: (m: string) => void;
}

export interface RestoreResult {
  manifest: BackupManifest;
  /** Wall time of each step and in total. */
  ms: { verifyFiles: number; pgRestore: number; verifyTables: number; republish: number; total: number };
  republished: number;
}

/** `pnpm restore <backup>`: see the module comment. Throws on any checksum, count or hash mismatch. */
export async function restore(opts: RestoreOptions): Promise<RestoreResult> {
  const log = opts.log ?? console.log;
  const t0 = Date.now();
  const manifest = await readManifest(opts.backupDir);
  const services = Object.keys(manifest.services) as SchemaName[];
  for (const svc of services) {
    const s = manifest.services[svc]!;
    const actual = await sha256File(path.join(opts.backupDir, s.file));
    if (actual !== s.sha256) throw new Error(`${s.file}: sha256 ${actual} does not match the manifest (${s.sha256}); the backup is damaged`);
  }
  const t1 = Date.now();
  log(`checksums of ${services.length} files verified`);
  await ensureDatabase(opts.targetAdminUrl);
  const c = new pg.Client({ connectionString: opts.targetAdminUrl, application_name: 'cos-restore', connectionTimeoutMillis: 5_000 });
  await c.connect();
  let republished = 0;
  let t2: number;
  let t3: number;
  try {
    const present = (await c.query<{ n: string }>(`SELECT nspname AS n FROM pg_namespace WHERE nspname = ANY($1)`, [services])).rows.map((r) => r.n);
    if (present.length > 0) throw new Error(`${redact(opts.targetAdminUrl)} already has schema(s) ${present.join(', ')}: restore into a fresh database`);
    for (const svc of services) {
      const cfg = serviceDatabase(svc, opts.targetAdminUrl);
      await ensureServiceRoles(c, cfg.runtimeRole, cfg.systemRole, process.env.COS_DB_ROLE_PASSWORD);
    }
    await Promise.all(
      services.map((svc) =>
        run('pg_restore', ['--exit-on-error', '--no-owner', '--single-transaction', `--dbname=${opts.targetAdminUrl}`, path.join(opts.backupDir, manifest.services[svc]!.file)], {
          timeout: TOOL_TIMEOUT_MS,
        }),
      ),
    );
    t2 = Date.now();
    log(`pg_restore of ${services.join(', ')} into ${dbName(opts.targetAdminUrl)}: ${t2 - t1} ms`);
    const diffs: string[] = [];
    for (const svc of services) diffs.push(...compareStats(svc, manifest.services[svc]!.tables, await schemaStats(c, svc)));
    if (diffs.length > 0) throw new Error(`restored database differs from the backup:\n  ${diffs.join('\n  ')}`);
    t3 = Date.now();
    const tables = services.reduce((n, s) => n + Object.keys(manifest.services[s]!.tables).length, 0);
    log(`${tables} tables verified against the manifest (row counts and sha256 of contents): ${t3 - t2} ms`);
    if (opts.jetstream) {
      // Event stores only: the mailer keeps no events (its outbox is mail, not the bus's).
      republished = await republishEvents(c, services.filter((svc) => (SERVICES as readonly string[]).includes(svc)), opts.jetstream, log);
    }
  } finally {
    await c.end();
  }
  const t4 = Date.now();
  return {
    manifest,
    republished,
    ms: { verifyFiles: t1 - t0, pgRestore: t2 - t1, verifyTables: t3 - t2, republish: opts.jetstream ? t4 - t3 : 0, total: t4 - t0 },
  };
}

/**
 * Rebuilds the JetStream events stream from the events tables: every event of every service in global order, on
 * the subject, with the headers and body the outbox relay uses and `msgID = event id` (a stream that still holds
 * some of them drops those as duplicates within its window; consumers' inboxes drop any later). Events still
 * unpublished at backup time are published here too and marked, so the relays have nothing left to send.
 */
async function republishEvents(
  c: pg.Client,
  services: readonly string[],
  js: { natsUrl: string; subjectPrefix: string },
  log: (m: string) => void,
): Promise<number> {
  const bus = await connectBus({ servers: js.natsUrl, subjectPrefix: js.subjectPrefix, name: 'cos-restore', log: createLogger('restore', 'warn') });
  let total = 0;
  try {
    for (const svc of services) {
      const s = quoteIdent(svc);
      let after = 0;
      let n = 0;
      for (;;) {
        const { rows } = await c.query<EventRow>(
          `SELECT id, global_position, org_id, stream_id, stream_type, version, type, schema_version, data, metadata, occurred_at
           FROM ${s}.events WHERE global_position > $1 ORDER BY global_position LIMIT 500`,
          [after],
        );
        if (rows.length === 0) break;
        await Promise.all(
          rows.map((r) => {
            const e = toStored(r);
            return bus.js.publish(subjectFor(bus.prefix, svc, e), JSON.stringify(e), { msgID: e.id, headers: eventHeaders(e), timeout: 10_000 });
          }),
        );
        after = Number(rows[rows.length - 1]!.global_position);
        n += rows.length;
      }
      await c.query(`UPDATE ${s}.events SET published_at = now() WHERE published_at IS NULL`);
      log(`${svc}: ${n} events republished to ${bus.streamName}`);
      total += n;
    }
  } finally {
    await bus.close();
  }
  return total;
}
