import path from 'node:path';
import { migrate, serviceDatabase, type MigrationPhase as MigratePhase, type MigrateResult } from '@cos/db';
import { SCHEMAS, schemaDir, type SchemaName } from './paths';

export interface MigrateAllOptions {
  /** `expand` (default) stops before the first pending contract migration; `contract` applies them (see docs/migrations.md). */
  phase?: MigratePhase;
  /** Only these services / the mailer (default all). */
  services?: readonly SchemaName[];
  /** Apply nothing above this version (per service). */
  maxVersion?: number;
  backfillBatchSize?: number;
}

export const migrationsDir = (svc: SchemaName) => path.join(schemaDir(svc), 'migrations');

/** Applies every service's (and the mailer's) migrations, each under its own advisory lock, then their pending backfills. */
export async function migrateAll(
  adminUrl: string,
  log: (m: string) => void = console.log,
  opts: MigrateAllOptions = {},
): Promise<Record<string, MigrateResult>> {
  const out: Record<string, MigrateResult> = {};
  for (const svc of opts.services ?? SCHEMAS) {
    const cfg = serviceDatabase(svc, adminUrl);
    const r = await migrate({
      adminUrl,
      schema: cfg.schema,
      runtimeRole: cfg.runtimeRole,
      systemRole: cfg.systemRole,
      dir: migrationsDir(svc),
      rolePassword: process.env.COS_DB_ROLE_PASSWORD,
      phase: opts.phase,
      maxVersion: opts.maxVersion,
      backfillBatchSize: opts.backfillBatchSize,
      log,
    });
    out[svc] = r;
    if (r.applied.length === 0 && r.backfilled.length === 0) log(`${svc}: up to date${r.pendingContract ? ` (contract pending: ${r.pendingContract})` : ''}`);
  }
  return out;
}
