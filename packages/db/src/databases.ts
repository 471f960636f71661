import pg from 'pg';
import { quoteIdent } from './pool';

/** The database named in `url` and a URL to the same server's maintenance database (`postgres`). */
function split(url: string): { name: string; maintenanceUrl: string } {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.slice(1));
  quoteIdent(name); // refuses names that would need quoting
  u.pathname = '/postgres';
  return { name, maintenanceUrl: u.toString() };
}

async function onMaintenanceDb<T>(url: string, fn: (c: pg.Client, name: string) => Promise<T>): Promise<T> {
  const { name, maintenanceUrl } = split(url);
  const c = new pg.Client({ connectionString: maintenanceUrl, connectionTimeoutMillis: 5_000 });
  await c.connect();
  try {
    return await fn(c, name);
  } finally {
    await c.end();
  }
}

/**
 * Creates the database named in `adminUrl` unless it exists (connecting to the server's `postgres` database).
 * Returns whether it was created.
 */
export function ensureDatabase(adminUrl: string): Promise<boolean> {
  return onMaintenanceDb(adminUrl, async (c, name) => {
    const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    await c.query(`CREATE DATABASE ${quoteIdent(name)}`);
    return true;
  });
}

/** Drops the database named in `adminUrl` if it exists, ending its sessions first (WITH FORCE). */
export function dropDatabase(adminUrl: string): Promise<void> {
  return onMaintenanceDb(adminUrl, async (c, name) => {
    await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  });
}
