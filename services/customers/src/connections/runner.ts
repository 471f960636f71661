/**
 * The connector runner (a background worker of the customers process): pulls due connections from their providers.
 *
 * - Leases in Postgres: each tick claims due rows of connection_sync with FOR UPDATE SKIP LOCKED, so any number of
 *   customers instances run at most one sync per connection at a time; a runner that dies leaves a lease that lapses
 *   and the connection is due again.
 * - Cursor-based and resumable: each page's signals and the cursor after it commit in one tenant transaction, fenced
 *   by the lease (a runner that lost its lease rolls its page back). A crash mid-sync resumes after the last
 *   committed page; items seen twice are duplicates by their provider event id.
 * - Per connection (cockatiel): a timeout per call, a bounded retry with exponential backoff and jitter for transient
 *   errors (5xx, network, timeout), and a circuit breaker that opens after consecutive failed calls (then the
 *   connection waits halfOpenAfter before one trial). 429 honours Retry-After (the run stops, the next is scheduled
 *   then). Failed runs back off exponentially with jitter; after maxFailures in a row the connection is FAILED and
 *   no longer scheduled (its dead letter: visible in the graph, re-enabled by rotating its API token).
 */
import { randomUUID } from 'node:crypto';
import {
  BrokenCircuitError,
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  retry,
  timeout,
  TimeoutStrategy,
  wrap,
  type IPolicy,
} from 'cockatiel';
import type { Db } from '@cos/db';
import type { Logger } from '@cos/logger';
import { advanceCursor, claimDueSyncs, findConnectionAnyTenant, finishSync, getSecret, purgeDeliveries, type SyncRow } from '../store/connection-store';
import { secretAad, type ConnectionsConfig } from '../commands/connection-commands';
import { ingestMapped } from './ingest';
import { PULLERS, ProviderHttpError, RateLimitedError } from './pullers';
import { decryptSecret, rewrap, type KeyRing } from './secrets';
import { secretsToRewrap, updateWrappedKey } from '../store/connection-store';

export interface ConnectorRunnerOptions {
  db: Db;
  systemDb: Db;
  log: Logger;
  connections: ConnectionsConfig;
  /** How often due connections are looked for. */
  pollMs: number;
  /** Connections synced at once by this instance. */
  concurrency: number;
  leaseMs: number;
  /** Deadline of one provider call. */
  timeoutMs: number;
  /** Attempts of one call (transient errors), with exponential backoff and jitter between them. */
  callAttempts: number;
  breakerFailures: number;
  breakerHalfOpenMs: number;
  /** Failed runs in a row before the connection is FAILED (no longer scheduled). */
  maxFailures: number;
  /** Backoff of failed runs: base · 2^(failures-1), capped, with jitter. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Pages per run before yielding to other connections (the next run follows at once). */
  maxPagesPerRun: number;
  /** Metrics hook: one call per run with its status. */
  onRun?: (status: string) => void;
  /** Delivery audit entries older than this are purged (hourly); 0 keeps them forever. */
  deliveriesRetentionDays?: number;
}

class LeaseLostError extends Error {}

const isTransient = (err: unknown) =>
  (err instanceof ProviderHttpError && err.transient) ||
  (!(err instanceof ProviderHttpError) && !(err instanceof RateLimitedError) && !(err instanceof BrokenCircuitError) && !(err instanceof LeaseLostError));

export function createConnectorRunner(opts: ConnectorRunnerOptions) {
  const owner = `runner:${randomUUID()}`;
  const policies = new Map<string, IPolicy>();
  const policyFor = (connectionId: string): IPolicy => {
    let p = policies.get(connectionId);
    if (!p) {
      // Breaker outermost: a call that failed after its retries counts once; 4xx other than 408 count too (a revoked
      // token should not be hammered), 429 does not (it is the provider asking for time, honoured separately).
      const breaker = circuitBreaker(handleWhen((e) => !(e instanceof RateLimitedError)), {
        halfOpenAfter: opts.breakerHalfOpenMs,
        breaker: new ConsecutiveBreaker(opts.breakerFailures),
      });
      const retries = retry(handleWhen(isTransient), {
        maxAttempts: Math.max(0, opts.callAttempts - 1),
        backoff: new ExponentialBackoff({ initialDelay: 200, maxDelay: 5_000 }),
      });
      p = wrap(breaker, retries, timeout(opts.timeoutMs, TimeoutStrategy.Aggressive));
      policies.set(connectionId, p);
    }
    return p;
  };

  const backoffMs = (failures: number) => {
    const raw = Math.min(opts.backoffMaxMs, opts.backoffBaseMs * 2 ** Math.max(0, failures - 1));
    return Math.round(raw * (0.5 + Math.random() / 2)); // jitter: 50..100 %
  };

  async function syncOne(row: SyncRow): Promise<string> {
    const { connectionId, orgId } = row;
    const tenant = { orgId };
    const finish = (r: Parameters<typeof finishSync>[3]) => opts.systemDb.withClient((tx) => finishSync(tx, connectionId, owner, r));
    const connection = await opts.systemDb.withClient((tx) => findConnectionAnyTenant(tx, connectionId));
    const puller = connection ? PULLERS[connection.provider] : undefined;
    if (!connection || connection.deletedAt || !puller || !connection.config.baseUrl) {
      await finish({ status: 'FAILED', nextInMs: 0, error: 'connection deleted or without a pull API', failures: row.failures, enabled: false, synced: false });
      return 'FAILED';
    }
    try {
      const encrypted = await opts.db.tx(tenant, (tx) => getSecret(tx, connectionId, 'API_TOKEN'));
      if (!encrypted) throw new ProviderHttpError(401, 'no API token stored');
      const apiToken = decryptSecret(opts.connections.keyRing, encrypted, secretAad(connectionId, 'API_TOKEN'));
      const creds = { baseUrl: connection.config.baseUrl, email: connection.config.email, apiToken };
      const policy = policyFor(connectionId);
      let cursor = row.cursor;
      let done = false;
      for (let page = 0; page < opts.maxPagesPerRun && !done; page++) {
        const result = await policy.execute(({ signal }) => puller(creds, cursor, new Date(), signal));
        const correlationId = randomUUID();
        await opts.db.tx(tenant, async (tx) => {
          for (const item of result.items) {
            if (!item.ok) continue; // an item the provider sent without an id: nothing to key it by
            await ingestMapped(tx, { orgId, connectionId, provider: connection.provider, via: 'SYNC' }, item, correlationId);
          }
          if (!(await advanceCursor(tx, connectionId, owner, result.cursor, result.items.length, opts.leaseMs))) throw new LeaseLostError('lease lost');
        });
        cursor = result.cursor;
        done = result.done;
      }
      await finish({ status: 'OK', nextInMs: done ? row.intervalS * 1000 : 0, error: null, failures: 'reset', synced: true });
      return 'OK';
    } catch (err) {
      if (err instanceof LeaseLostError) {
        opts.log.warn({ connectionId }, 'connector lost its lease; another runner has the connection');
        return 'LEASE_LOST';
      }
      if (err instanceof RateLimitedError) {
        await finish({ status: 'RATE_LIMITED', nextInMs: err.retryAfterMs, error: err.message, failures: row.failures, synced: false });
        return 'RATE_LIMITED';
      }
      if (err instanceof BrokenCircuitError) {
        await finish({ status: 'CIRCUIT_OPEN', nextInMs: opts.breakerHalfOpenMs, error: 'circuit open: the provider failed repeatedly', failures: row.failures, synced: false });
        return 'CIRCUIT_OPEN';
      }
      const failures = row.failures + 1;
      const message = describe(err);
      opts.log.warn({ connectionId, failures, err: message }, 'connector run failed');
      if (failures >= opts.maxFailures) {
        await finish({ status: 'FAILED', nextInMs: 0, error: message, failures, enabled: false, synced: false });
        return 'FAILED';
      }
      await finish({ status: 'RETRYING', nextInMs: backoffMs(failures), error: message, failures, synced: false });
      return 'RETRYING';
    }
  }

  /** One tick: claims due connections and syncs them; resolves when they are done. Returns how many ran. */
  async function runOnce(): Promise<number> {
    const due = await opts.systemDb.withClient((tx) => claimDueSyncs(tx, owner, opts.leaseMs, opts.concurrency));
    await Promise.all(
      due.map(async (row) => {
        let status: string;
        try {
          status = await syncOne(row);
        } catch (err) {
          status = 'ERROR';
          opts.log.error({ err, connectionId: row.connectionId }, 'connector run crashed');
        }
        opts.onRun?.(status);
      }),
    );
    return due.length;
  }

  let lastPurge = 0;
  async function purgeIfDue() {
    const days = opts.deliveriesRetentionDays ?? 0;
    if (days <= 0 || Date.now() - lastPurge < 3_600_000) return;
    lastPurge = Date.now();
    const n = await opts.systemDb.withClient((tx) => purgeDeliveries(tx, days));
    if (n > 0) opts.log.info({ purged: n, days }, 'purged old webhook delivery audit entries');
  }

  let timer: NodeJS.Timeout | null = null;
  let running: Promise<unknown> | null = null;
  let stopped = false;
  const loop = () => {
    if (stopped) return;
    running = runOnce()
      .then(purgeIfDue)
      .catch((err: unknown) => opts.log.error({ err }, 'connector tick failed'))
      .finally(() => {
        running = null;
        if (!stopped) timer = setTimeout(loop, opts.pollMs);
      });
  };

  return {
    owner,
    runOnce,
    start() {
      stopped = false;
      void rewrapSecrets(opts.systemDb, opts.connections.keyRing, opts.log);
      timer = setTimeout(loop, 0);
      return this;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

export type ConnectorRunner = ReturnType<typeof createConnectorRunner>;

function describe(err: unknown): string {
  if (err instanceof ProviderHttpError) return err.message;
  const e = err as { name?: string; code?: string; message?: string };
  if (e?.name === 'TaskCancelledError') return 'provider call timed out';
  return `provider call failed: ${e?.code ?? e?.name ?? 'error'}`.slice(0, 300);
}

/**
 * Re-wraps every data key wrapped by a master key other than the active one (after a rotation of
 * CONNECTIONS_MASTER_KEYS), in batches, each in its own transaction. Returns how many were re-wrapped.
 */
export async function rewrapSecrets(systemDb: Db, ring: KeyRing, log: Logger): Promise<number> {
  let total = 0;
  try {
    for (;;) {
      const n = await systemDb.withClient(async (tx) => {
        await tx.query('BEGIN');
        try {
          const rows = await secretsToRewrap(tx, ring.active.id, 100);
          for (const r of rows) {
            const next = rewrap(ring, r, secretAad(r.connectionId, r.kind));
            if (next) await updateWrappedKey(tx, r.connectionId, r.kind, r.keyId, next);
          }
          await tx.query('COMMIT');
          return rows.length;
        } catch (err) {
          await tx.query('ROLLBACK');
          throw err;
        }
      });
      total += n;
      if (n < 100) break;
    }
    if (total > 0) log.info({ total, keyId: ring.active.id }, 'connection secrets re-wrapped with the active master key');
  } catch (err) {
    log.error({ err }, 're-wrapping connection secrets failed (the old master key must stay in the ring)');
  }
  return total;
}
