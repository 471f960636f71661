import pg from 'pg';
import type { Logger } from '@cos/logger';

export interface PoolOptions {
  connectionString: string;
  /** Postgres schema this pool works in (search_path). */
  schema: string;
  applicationName: string;
  /**
   * Pool size. Size it against Postgres max_connections: (services x instances x (max + systemMax)) + admin headroom
   * must stay below max_connections (100 by default). README "Capacity" documents the defaults.
   */
  max: number;
  /** Kills any statement running longer than this (server side), so a bad query never holds a connection forever. */
  statementTimeoutMs: number;
  /** How long a caller waits for a free connection before failing (client side). */
  connectionTimeoutMs?: number;
  idleTimeoutMs?: number;
  log?: Logger;
}

/** A pg Pool with timeouts and search_path set on every connection. */
export function createPool(opts: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max,
    application_name: opts.applicationName,
    statement_timeout: opts.statementTimeoutMs,
    // A transaction left open by a crashed request must not hold locks forever.
    idle_in_transaction_session_timeout: Math.max(opts.statementTimeoutMs * 2, 10_000),
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 5_000,
    idleTimeoutMillis: opts.idleTimeoutMs ?? 30_000,
    options: `-c search_path=${quoteIdent(opts.schema)}`,
  });
  pool.on('error', (err) => opts.log?.error({ err }, 'idle postgres client error'));
  // pg-pool listens for errors only on IDLE clients. A checked-out client whose connection dies between two statements
  // (Postgres restarted, the backend terminated) emits 'error' with no listener, which crashes the process (seen in
  // `pnpm chaos`: tasks died on a Postgres restart). With this listener the caller's next statement fails instead
  // ("Client has encountered a connection error and is not queryable") and the pool drops the client at release.
  pool.on('connect', (client) => {
    client.on('error', (err) => opts.log?.warn({ err: err.message }, 'postgres connection lost'));
  });
  return pool;
}

export function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unsafe identifier: ${name}`);
  return `"${name}"`;
}
