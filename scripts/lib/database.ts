import path from 'node:path';
import pg from 'pg';
import { migrate, serviceDatabase } from '@cos/db';
import { SERVICES, repoRoot } from './paths';

/** Creates the database named in `adminUrl` if it does not exist (connecting to the `postgres` database). */
export async function ensureDatabase(adminUrl: string): Promise<boolean> {
  const u = new URL(adminUrl);
  const name = decodeURIComponent(u.pathname.slice(1));
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unsafe database name: ${name}`);
  u.pathname = '/postgres';
  const c = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 5_000 });
  await c.connect();
  try {
    const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    await c.query(`CREATE DATABASE "${name}"`);
    return true;
  } finally {
    await c.end();
  }
}

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
