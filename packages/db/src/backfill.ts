import pg from 'pg';
import { quoteIdent } from './pool';

/**
 * A batched data migration over one table, declared next to the expand migration that needs it
 * (`NNNN_expand_<what>.backfill.json`), e.g.
 * `{ "table": "tasks", "key": "id", "set": "created_by_user_id = created_by", "where": "created_by_user_id IS DISTINCT FROM created_by" }`.
 * `set` and `where` are SQL fragments from the repository (reviewed like the migration itself), never user input.
 */
export interface BackfillSpec {
  table: string;
  /** A unique, indexed, totally ordered column (the primary key): batches walk it in order; the checkpoint is its last value. */
  key: string;
  /** The assignments of `UPDATE <table> SET <set>`. */
  set: string;
  /** Rows that still need it (rows already right are scanned, not rewritten). Default: every row. */
  where?: string;
}

export function parseBackfillSpec(json: string, file: string): BackfillSpec {
  let v: Partial<BackfillSpec>;
  try {
    v = JSON.parse(json) as Partial<BackfillSpec>;
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message})`, { cause: err });
  }
  for (const k of ['table', 'key', 'set'] as const) {
    if (typeof v[k] !== 'string' || !v[k]) throw new Error(`${file}: "${k}" must be a non-empty string`);
  }
  if (v.where !== undefined && typeof v.where !== 'string') throw new Error(`${file}: "where" must be a string`);
  quoteIdent(v.table!);
  quoteIdent(v.key!);
  return { table: v.table!, key: v.key!, set: v.set!, where: v.where };
}

export interface BackfillProgress {
  name: string;
  table: string;
  batches: number;
  rowsScanned: number;
  rowsUpdated: number;
  /** Rows in the table (planner estimate for large tables), for the percentage. */
  rowsEstimate: number;
  lastKey: string | null;
  elapsedMs: number;
}

export interface BackfillOptions {
  adminUrl: string;
  schema: string;
  /** Unique per backfill in the schema (the migration's `NNNN_name`): the checkpoint's key. */
  name: string;
  spec: BackfillSpec;
  /** Rows per batch, one short transaction each (default 1000). */
  batchSize?: number;
  /** Pause between batches to leave room for the live traffic (default 0). */
  pauseMs?: number;
  /** Per-batch statement timeout (default 60 s): a batch that cannot finish in time is too large. */
  statementTimeoutMs?: number;
  log?: (msg: string) => void;
  /** Called inside each batch's transaction before its commit: throwing aborts the run with that batch rolled back. */
  onBatch?: (p: BackfillProgress) => void | Promise<void>;
}

export interface BackfillResult extends BackfillProgress {
  /** Finished before this run (nothing to do). */
  alreadyDone: boolean;
  /** The checkpoint this run started from (null: from the start). */
  resumedFrom: string | null;
  /** Another runner holds this backfill's lock: this run did nothing. */
  busy: boolean;
}

/**
 * Runs (or resumes) a backfill: walks `spec.table` in `spec.key` order, `batchSize` keys at a time; each batch
 * updates its rows that match `where` and advances the checkpoint in `backfill_progress` in the SAME transaction,
 * so a run killed at any point resumes after the last committed batch, and no batch is applied twice in a way that
 * matters (the update is idempotent by construction: `where` selects rows not yet right). One runner per backfill
 * (advisory lock); progress is logged per batch.
 */
export async function runBackfill(opts: BackfillOptions): Promise<BackfillResult> {
  const log = opts.log ?? (() => {});
  const { spec } = opts;
  const schema = quoteIdent(opts.schema);
  const table = quoteIdent(spec.table);
  const key = quoteIdent(spec.key);
  const batchSize = opts.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`backfill batch size must be a positive integer: ${batchSize}`);
  const label = `${opts.schema}/${opts.name}`;
  const client = new pg.Client({
    connectionString: opts.adminUrl,
    application_name: `backfill:${opts.schema}`,
    statement_timeout: opts.statementTimeoutMs ?? 60_000,
    connectionTimeoutMillis: 5_000,
  });
  // A dropped connection surfaces as the failing query's error (below); without a listener it would crash the process.
  client.on('error', () => {});
  await client.connect();
  const started = Date.now();
  const lockKey = `cos-backfill:${opts.schema}:${opts.name}`;
  try {
    await client.query(`SET search_path TO ${schema}`);
    const locked = (await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [lockKey])).rows[0]!.ok;
    const base = { name: opts.name, table: spec.table, batches: 0, rowsScanned: 0, rowsUpdated: 0, rowsEstimate: 0, lastKey: null, elapsedMs: 0 };
    if (!locked) {
      log(`backfill ${label}: another runner holds it; skipped`);
      return { ...base, alreadyDone: false, resumedFrom: null, busy: true };
    }
    const estimate = await client.query<{ n: string }>(
      `SELECT greatest(coalesce((SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)), -1), -1)::bigint AS n`,
      [`${opts.schema}.${spec.table}`],
    );
    let rowsEstimate = Number(estimate.rows[0]!.n);
    // Never analyzed (-1) or tiny: count it (cheap then).
    if (rowsEstimate < 10_000) rowsEstimate = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
    await client.query(
      `INSERT INTO backfill_progress (name, table_name, rows_estimate) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET rows_estimate = EXCLUDED.rows_estimate`,
      [opts.name, spec.table, rowsEstimate],
    );
    const row = (
      await client.query<{ last_key: string | null; rows_scanned: string; rows_updated: string; batches: number; finished_at: Date | null }>(
        `SELECT last_key, rows_scanned, rows_updated, batches, finished_at FROM backfill_progress WHERE name = $1`,
        [opts.name],
      )
    ).rows[0]!;
    const p: BackfillProgress = {
      ...base,
      batches: row.batches,
      rowsScanned: Number(row.rows_scanned),
      rowsUpdated: Number(row.rows_updated),
      rowsEstimate,
      lastKey: row.last_key,
    };
    if (row.finished_at) return { ...p, alreadyDone: true, resumedFrom: row.last_key, busy: false };
    const resumedFrom = row.last_key;
    if (resumedFrom) log(`backfill ${label}: resuming after ${spec.key} ${resumedFrom} (${p.rowsScanned} rows done in ${p.batches} batches)`);
    const where = spec.where ? ` AND (${spec.where})` : '';
    for (;;) {
      await client.query('BEGIN');
      try {
        const keys = (
          p.lastKey === null
            ? await client.query<{ k: string }>(`SELECT ${key}::text AS k FROM ${table} ORDER BY ${key} LIMIT $1`, [batchSize])
            : await client.query<{ k: string }>(`SELECT ${key}::text AS k FROM ${table} WHERE ${key} > $1 ORDER BY ${key} LIMIT $2`, [p.lastKey, batchSize])
        ).rows.map((r) => r.k);
        if (keys.length === 0) {
          await client.query(`UPDATE backfill_progress SET finished_at = now(), updated_at = now() WHERE name = $1`, [opts.name]);
          await client.query('COMMIT');
          break;
        }
        const updated = await client.query(`UPDATE ${table} SET ${spec.set} WHERE ${key} = ANY($1)${where}`, [keys]);
        const next: BackfillProgress = {
          ...p,
          batches: p.batches + 1,
          rowsScanned: p.rowsScanned + keys.length,
          rowsUpdated: p.rowsUpdated + (updated.rowCount ?? 0),
          lastKey: keys[keys.length - 1]!,
          elapsedMs: Date.now() - started,
        };
        await client.query(
          `UPDATE backfill_progress SET last_key = $2, rows_scanned = $3, rows_updated = $4, batches = $5, updated_at = now() WHERE name = $1`,
          [opts.name, next.lastKey, next.rowsScanned, next.rowsUpdated, next.batches],
        );
        await opts.onBatch?.(next);
        await client.query('COMMIT');
        Object.assign(p, next);
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw new Error(`backfill ${label} stopped at ${spec.key} ${p.lastKey ?? '(start)'} (resumable): ${(err as Error).message}`, { cause: err });
      }
      const pct = p.rowsEstimate > 0 ? Math.min(100, (100 * p.rowsScanned) / p.rowsEstimate).toFixed(1) : '?';
      const rate = Math.round(p.rowsScanned / Math.max(0.001, (Date.now() - started) / 1000));
      log(`backfill ${label}: ${p.rowsScanned}/${p.rowsEstimate} rows (${pct}%), ${p.rowsUpdated} updated, batch ${p.batches}, ${rate} rows/s`);
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
    p.elapsedMs = Date.now() - started;
    log(`backfill ${label}: done, ${p.rowsScanned} rows scanned, ${p.rowsUpdated} updated in ${p.batches} batches, ${p.elapsedMs} ms`);
    return { ...p, alreadyDone: false, resumedFrom, busy: false };
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey]).catch(() => {});
    await client.end().catch(() => {});
  }
}
