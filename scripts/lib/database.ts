import path from 'node:path';
import { migrate, serviceDatabase } from '@cos/db';
import { SERVICES, repoRoot } from './paths';

/** Applies every service's migrations (each under its own advisory lock). */
export async function migrateAll(adminUrl: string, log: (m: string) => void = console.log): Promise<void> {
  for (const svc of SERVICES) {
    const cfg = serviceDatabase(svc, adminUrl);
    const { applied } = await migrate({
      adminUrl,
      schema: cfg.schema,
      runtimeRole: cfg.runtimeRole,
      systemRole: cfg.systemRole,
      dir: path.join(repoRoot, 'services', svc, 'migrations'),
      rolePassword: process.env.COS_DB_ROLE_PASSWORD,
      log,
    });
    if (applied.length === 0) log(`${svc}: up to date`);
  }
}
