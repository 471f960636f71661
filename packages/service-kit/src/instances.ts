import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { INSTANCE_TTL_SECONDS, type Db } from '@cos/db';
import type { Logger } from '@cos/logger';

/** How often a registered instance renews its registration (it expires INSTANCE_TTL_SECONDS after the last one). */
export const HEARTBEAT_MS = 5_000;

export interface InstanceRegistration {
  id: string;
  /** Removes the registration (graceful shutdown); the heartbeat stops. */
  deregister(): Promise<void>;
}

/** Thrown at startup when the database already went through a contract migration this code predates. */
export class SchemaTooNewError extends Error {
  override name = 'SchemaTooNewError';
}

/**
 * Registers this process in its service schema's `service_instances` (created by the migration runner) with the
 * schema level its code is written for, and heartbeats every 5 s. `pnpm migrate --contract` refuses a contract
 * migration while an instance with a lower level is registered; a crashed instance's row expires after
 * INSTANCE_TTL_SECONDS. Refuses to start (SchemaTooNewError) when a contract migration newer than the code was applied:
 * such code would read or write what the contract removed.
 */
export async function registerInstance(opts: {
  db: Db;
  service: string;
  schemaLevel: number;
  codeVersion: string;
  log: Logger;
}): Promise<InstanceRegistration> {
  const { db, service, log } = opts;
  const id = `${service}-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  await db.tx({ orgId: null }, async (tx) => {
    // Waits while a contract migration runs (it locks the registry), then sees it.
    const newer = await tx.one<{ version: number; name: string }>(
      /* newestContractAbove */ `SELECT version, name FROM schema_migrations WHERE phase = 'contract' AND version > $1 ORDER BY version DESC LIMIT 1`,
      [opts.schemaLevel],
    );
    if (newer) {
      throw new SchemaTooNewError(
        `${service}: the database went through contract migration ${String(newer.version).padStart(4, '0')}_${newer.name}, ` +
          `but this code is written for schema level ${opts.schemaLevel}; deploy code that knows migration ${newer.version}`,
      );
    }
    await tx.query(
      /* registerInstance */ `INSERT INTO service_instances (id, service, host, pid, code_version, schema_level, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))`,
      [id, service, hostname(), process.pid, opts.codeVersion, opts.schemaLevel, INSTANCE_TTL_SECONDS],
    );
  });
  log.info({ instance: id, schemaLevel: opts.schemaLevel, codeVersion: opts.codeVersion }, 'instance registered');
  let stopped = false;
  const beat = async () => {
    try {
      // Upsert: a row deleted as expired (a long GC pause, a lost connection) comes back with the next beat.
      await db.tx({ orgId: null }, (tx) =>
        tx.query(
          /* heartbeatInstance */ `INSERT INTO service_instances (id, service, host, pid, code_version, schema_level, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
           ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), expires_at = EXCLUDED.expires_at`,
          [id, service, hostname(), process.pid, opts.codeVersion, opts.schemaLevel, INSTANCE_TTL_SECONDS],
        ),
      );
    } catch (err) {
      if (!stopped) log.warn({ err }, 'instance heartbeat failed');
    }
  };
  const timer = setInterval(() => void beat(), HEARTBEAT_MS);
  timer.unref();
  return {
    id,
    async deregister() {
      stopped = true;
      clearInterval(timer);
      await db.tx({ orgId: null }, (tx) => tx.query(/* deregisterInstance */ `DELETE FROM service_instances WHERE id = $1`, [id]));
      log.info({ instance: id }, 'instance deregistered');
    },
  };
}
