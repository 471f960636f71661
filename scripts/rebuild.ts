/**
 * `pnpm run rebuild <service>` (bare `pnpm rebuild` is pnpm's own command): rebuilds a service's read models from
 * its event store. As the admin (COS_PG_ADMIN_URL), in ONE transaction with search_path = the service schema:
 * lock the events table against appends (SHARE), TRUNCATE the service's READ_MODEL_TABLES together, replay every
 * event in global order through the event store's projector, commit. A failure rolls everything back, so the live
 * read models are never left half-built. Appends of the running service wait for the lock (they do not fail).
 * Operational state (inbox, leases, credentials, tables fed by other services' events) is not touched.
 * Personal fields in events are opened with PII_MASTER_KEY (as the service): erased subjects stay erased.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createPool, Db, quoteIdent, serviceDatabase, type Tx } from '@cos/db';
import { SERVICES, repoRoot, type ServiceName } from './lib/paths';
import { configurePiiFromEnv } from './lib/pii-env';

/** What a service's src/projector/index.ts exports for a rebuild (docs/services.md). */
export interface ProjectionsModule {
  READ_MODEL_TABLES: readonly string[];
  eventStore: { replayAll(tx: Tx, batchSize?: number): Promise<number> };
}

export interface RebuildResult {
  service: ServiceName;
  schema: string;
  events: number;
  /** Rows per read-model table before and after. */
  tables: Array<{ table: string; before: number; after: number }>;
  ms: number;
}

export const isService = (s: string | undefined): s is ServiceName => SERVICES.includes(s as ServiceName);

export async function loadProjections(service: ServiceName): Promise<ProjectionsModule> {
  const file = path.join(repoRoot, 'services', service, 'src', 'projector', 'index.ts');
  const mod = (await import(pathToFileURL(file).href)) as Partial<ProjectionsModule>;
  if (!Array.isArray(mod.READ_MODEL_TABLES) || typeof mod.eventStore?.replayAll !== 'function') {
    throw new Error(`${file} must export READ_MODEL_TABLES and eventStore`);
  }
  return mod as ProjectionsModule;
}

export async function rebuild(
  service: ServiceName,
  adminUrl: string,
  opts: { statementTimeoutMs?: number; projections?: ProjectionsModule } = {},
): Promise<RebuildResult> {
  const started = Date.now();
  const { READ_MODEL_TABLES, eventStore } = opts.projections ?? (await loadProjections(service));
  if (READ_MODEL_TABLES.length === 0) throw new Error(`${service}: READ_MODEL_TABLES is empty`);
  const { schema } = serviceDatabase(service, adminUrl);
  const tables = READ_MODEL_TABLES.map((t) => ({ table: t, ident: quoteIdent(t) }));
  const db = new Db(
    createPool({
      connectionString: adminUrl,
      schema,
      applicationName: `cos-rebuild-${service}`,
      max: 1,
      statementTimeoutMs: opts.statementTimeoutMs ?? 10 * 60_000,
    }),
  );
  const count = async (tx: Tx, ident: string) => (await tx.one<{ n: number }>(`/* rebuildCount */ SELECT count(*)::int AS n FROM ${ident}`))!.n;
  try {
    return await db.tx({ orgId: null }, async (tx) => {
      // Appends (ROW EXCLUSIVE) wait until we commit; reads of the events table go on.
      await tx.query(`/* rebuildLockEvents */ LOCK TABLE events IN SHARE MODE`);
      const before = new Map<string, number>();
      for (const t of tables) before.set(t.table, await count(tx, t.ident));
      // One statement for all of them: foreign keys among read-model tables are fine; a reference from any
      // other table makes it fail (and roll back) instead of silently cascading into operational state.
      await tx.query(`/* rebuildTruncate */ TRUNCATE TABLE ${tables.map((t) => t.ident).join(', ')}`);
      const events = await eventStore.replayAll(tx);
      const result: RebuildResult = { service, schema, events, tables: [], ms: 0 };
      for (const t of tables) result.tables.push({ table: t.table, before: before.get(t.table)!, after: await count(tx, t.ident) });
      result.ms = Date.now() - started;
      return result;
    });
  } finally {
    await db.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const service = argv[0];
  if (!isService(service) || argv.length !== 1) {
    console.error(`usage: pnpm run rebuild <${SERVICES.join('|')}>   (env COS_PG_ADMIN_URL)`);
    return 2;
  }
  const adminUrl = process.env.COS_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/cos';
  try {
    // Personal fields are opened with the service's master key (an erased person's stay placeholders).
    configurePiiFromEnv();
    const r = await rebuild(service, adminUrl);
    console.log(`rebuilt ${r.service} (schema ${r.schema}): replayed ${r.events} events in ${r.ms} ms`);
    for (const t of r.tables) console.log(`  ${t.table.padEnd(24)} ${String(t.before).padStart(8)} -> ${String(t.after).padStart(8)} rows`);
    return 0;
  } catch (err) {
    console.error(`rebuild of ${service} failed (nothing changed): ${(err as Error).message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
