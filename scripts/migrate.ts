/**
 * `pnpm migrate [--contract] [--service <name>] [--batch-size N] [--status]`: creates the project database if needed
 * and applies every service's migrations, expand/contract aware (docs/migrations.md):
 * - default (expand phase, before the new code rolls out): every pending migration up to the first contract one,
 *   then the pending backfills in batches (resumable: run it again after a kill);
 * - `--contract` (after every instance runs the new code): the contract migrations too; each refuses to run while a
 *   registered instance runs code older than it, naming the instance;
 * - `--status`: prints applied/pending migrations, backfill progress and the registered instances, changes nothing.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ContractBlockedError, declaredPackages, ensureDatabase, liveInstances, quoteIdent, readMigrations } from '@cos/db';
import { migrateAll, migrationsDir } from './lib/database';
import { SCHEMAS, type SchemaName } from './lib/paths';

const { values } = parseArgs({
  options: {
    contract: { type: 'boolean', default: false },
    status: { type: 'boolean', default: false },
    service: { type: 'string', multiple: true },
    'batch-size': { type: 'string' },
  },
});
const services = (values.service ?? [...SCHEMAS]) as SchemaName[];
for (const s of services) {
  if (!SCHEMAS.includes(s)) {
    console.error(`unknown service ${s} (one of ${SCHEMAS.join(', ')})`);
    process.exit(2);
  }
}
const batchSize = values['batch-size'] ? Number(values['batch-size']) : undefined;
if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1)) {
  console.error('--batch-size must be a positive integer');
  process.exit(2);
}

const adminUrl = process.env.COS_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/cos';

async function status(): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  await c.connect();
  try {
    for (const svc of services) {
      const s = quoteIdent(svc);
      const files = await readMigrations(migrationsDir(svc));
      const exists = (await c.query(`SELECT to_regclass($1) AS t`, [`${svc}.schema_migrations`])).rows[0].t;
      const applied = exists ? new Set((await c.query<{ version: number }>(`SELECT version FROM ${s}.schema_migrations`)).rows.map((r) => r.version)) : new Set<number>();
      console.log(`${svc}:`);
      // The packages' migrations (events, inbox) come first; package_migrations exists once the runner ran.
      const pkgTable = (await c.query(`SELECT to_regclass($1) AS t`, [`${svc}.package_migrations`])).rows[0].t;
      for (const p of await declaredPackages(migrationsDir(svc))) {
        const done = pkgTable
          ? new Set((await c.query<{ version: number }>(`SELECT version FROM ${s}.package_migrations WHERE package = $1`, [p.name])).rows.map((r) => r.version))
          : new Set<number>();
        for (const f of await readMigrations(p.dir)) console.log(`  ${done.has(f.version) ? 'applied' : 'PENDING'}  ${p.name}/${String(f.version).padStart(4, '0')}_${f.name}`);
      }
      for (const f of files) console.log(`  ${applied.has(f.version) ? 'applied' : 'PENDING'}  ${String(f.version).padStart(4, '0')}_${f.name}  (${f.phase}${f.backfill ? ', backfill' : ''})`);
      if (!exists) continue;
      const fills = (await c.query(`SELECT name, rows_scanned, rows_updated, rows_estimate, batches, finished_at FROM ${s}.backfill_progress ORDER BY name`)).rows;
      for (const b of fills) console.log(`  backfill ${b.name}: ${b.finished_at ? 'done' : 'IN PROGRESS'} ${b.rows_scanned}/${b.rows_estimate} rows, ${b.rows_updated} updated, ${b.batches} batches`);
      for (const i of await liveInstances(c, svc)) console.log(`  instance ${i.id}: code ${i.code_version}, schema level ${i.schema_level}, heartbeat ${i.heartbeat_at.toISOString()}`);
    }
  } finally {
    await c.end();
  }
}

try {
  if (values.status) {
    await status();
  } else {
    if (await ensureDatabase(adminUrl)) console.log(`created database ${new URL(adminUrl).pathname.slice(1)}`);
    const results = await migrateAll(adminUrl, console.log, { phase: values.contract ? 'contract' : 'expand', services, backfillBatchSize: batchSize });
    const pending = Object.values(results).map((r) => r.pendingContract).filter(Boolean);
    if (pending.length > 0) console.log(`contract migrations pending (run \`pnpm migrate --contract\` after the rollout): ${pending.join(', ')}`);
  }
} catch (err) {
  console.error(`migration failed: ${(err as Error).message}`);
  process.exit(err instanceof ContractBlockedError ? 3 : 1);
}
