import type { Db } from '@cos/db';
import type { Logger } from '@cos/logger';
import type { Metrics } from '@cos/observability';

/**
 * One retention rule: rows of `table` whose `column` (a timestamptz) is older than `days` are deleted, in batches.
 * `where` narrows it (a fixed SQL condition, e.g. `revoked_at IS NOT NULL`). Events are never a retention target:
 * they are the source of truth; personal data in them is erased by crypto-shredding (docs/privacy.md).
 */
export interface RetentionRule {
  table: string;
  column: string;
  days: number;
  where?: string;
}

export interface RetentionOptions {
  service: string;
  /** System role (BYPASSRLS): retention spans tenants. */
  db: Db;
  rules: RetentionRule[];
  /** Rows per DELETE statement (each its own short transaction, well under the statement timeout). */
  batchSize: number;
  /** Pause between passes; 0 = no schedule (runOnce only). */
  intervalMs: number;
  log: Logger;
  onDeleted?: (table: string, rows: number) => void;
  onRun?: (outcome: 'done' | 'skipped' | 'failed') => void;
}

export interface RetentionJob {
  /** One pass over every rule; null when another instance holds the lease. Returns rows deleted per table. */
  runOnce(): Promise<Record<string, number> | null>;
  stop(): Promise<void>;
}

const IDENT = /^[a-z_][a-z0-9_]*$/;

/**
 * The retention job of one service. Only one instance runs a pass at a time: the lease is a session advisory lock
 * (`cos-retention:<service>`) held on a connection for the pass, released at its end and lost with the connection
 * if the process dies. Each batch is a DELETE of at most `batchSize` rows (oldest first), repeated until a batch
 * comes back short, so a large backlog never holds locks or one long transaction.
 */
export function startRetentionJob(opts: RetentionOptions): RetentionJob {
  for (const r of opts.rules) {
    if (!IDENT.test(r.table) || !IDENT.test(r.column)) throw new Error(`retention rule with a bad identifier: ${r.table}.${r.column}`);
    if (!Number.isFinite(r.days) || r.days < 1) throw new Error(`retention of ${r.table} must be at least one day`);
  }
  const log = opts.log.child({ component: 'retention', service: opts.service });
  const lockKey = `cos-retention:${opts.service}`;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<unknown> = Promise.resolve();

  async function pass(): Promise<Record<string, number> | null> {
    const client = await opts.db.pool.connect();
    let broken = false;
    try {
      const { rows } = await client.query<{ ok: boolean }>(`/* retentionLease */ SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok`, [lockKey]);
      if (!rows[0]?.ok) {
        opts.onRun?.('skipped');
        return null;
      }
      try {
        const deleted: Record<string, number> = {};
        for (const r of opts.rules) {
          let tableTotal = 0;
          for (;;) {
            if (stopped) break;
            const res = await client.query(
              `/* retentionDelete */ DELETE FROM ${r.table} WHERE ctid = ANY(ARRAY(
                 SELECT ctid FROM ${r.table}
                 WHERE ${r.column} < now() - make_interval(days => $1)${r.where ? ` AND (${r.where})` : ''}
                 ORDER BY ${r.column} LIMIT $2))`,
              [r.days, opts.batchSize],
            );
            const n = res.rowCount ?? 0;
            tableTotal += n;
            if (n > 0) opts.onDeleted?.(r.table, n);
            if (n < opts.batchSize) break;
          }
          deleted[r.table] = (deleted[r.table] ?? 0) + tableTotal;
        }
        const total = Object.values(deleted).reduce((a, b) => a + b, 0);
        if (total > 0) log.info({ deleted }, 'retention pass deleted old rows');
        opts.onRun?.('done');
        return deleted;
      } finally {
        await client.query(`/* retentionRelease */ SELECT pg_advisory_unlock(hashtextextended($1, 0))`, [lockKey]).catch(() => {
          broken = true;
        });
      }
    } catch (err) {
      broken = true;
      opts.onRun?.('failed');
      throw err;
    } finally {
      client.release(broken);
    }
  }

  const runOnce = () => {
    const run = running.then(pass, pass);
    running = run.catch(() => {});
    return run;
  };

  function schedule(first = false) {
    if (stopped || opts.intervalMs <= 0) return;
    // Jitter spreads the passes of many instances (only one gets the lease anyway); the first pass comes soon
    // after startup (at most a minute), not one whole interval later.
    const base = first ? Math.min(opts.intervalMs, 60_000) : opts.intervalMs;
    const delay = base * (0.9 + Math.random() * 0.2);
    timer = setTimeout(() => {
      runOnce()
        .catch((err) => log.error({ err }, 'retention pass failed; retrying at the next interval'))
        .finally(schedule);
    }, delay);
    timer.unref?.();
  }
  schedule(true);

  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

/**
 * A process's retention job as every process runs it: batch size and schedule from its env
 * (RETENTION_BATCH_SIZE, RETENTION_INTERVAL_MS), deletions and runs counted in its metrics.
 */
export function startServiceRetention(opts: {
  service: string;
  db: Db;
  rules: RetentionRule[];
  env: { RETENTION_BATCH_SIZE: number; RETENTION_INTERVAL_MS: number };
  log: Logger;
  metrics: Pick<Metrics, 'retentionDeletedRows' | 'retentionRuns'>;
}): RetentionJob {
  return startRetentionJob({
    service: opts.service,
    db: opts.db,
    rules: opts.rules,
    batchSize: opts.env.RETENTION_BATCH_SIZE,
    intervalMs: opts.env.RETENTION_INTERVAL_MS,
    log: opts.log,
    onDeleted: (table, rows) => opts.metrics.retentionDeletedRows.inc({ table }, rows),
    onRun: (outcome) => opts.metrics.retentionRuns.inc({ outcome }),
  });
}
