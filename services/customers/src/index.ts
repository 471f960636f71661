/**
 * customers subgraph process (shared bootstrap: @cos/service-kit startSubgraphProcess — migrations, pools, metrics
 * incl. GET /metrics, tracing, bus, outbox relay, graceful shutdown). Publishes its CustomerEvent union through the
 * outbox relay; consumes nothing. Serves the provider webhooks (`/webhooks/*`, forwarded by the gateway) and runs the
 * connector runner (pulls from provider APIs) as its background worker.
 */
import { Counter } from 'prom-client';
import { exitOnStartupError, startSubgraphProcess } from '@cos/service-kit';
import type { ConnectionsConfig } from './commands/connection-commands';
import { createConnectorRunner } from './connections/runner';
import { developmentKeyRing, parseKeyRing } from './connections/secrets';
import { loadEnv } from './env';
import { NOTIFY_CHANNEL } from './projector';
import { createServer } from './server';
import { customersPii } from './store/pii';

const SERVICE = 'customers';
const env = loadEnv();
const connections: ConnectionsConfig = {
  keyRing: env.CONNECTIONS_MASTER_KEYS ? parseKeyRing(env.CONNECTIONS_MASTER_KEYS) : developmentKeyRing(env.INTERNAL_SECRET),
  allowCustomBaseUrl: env.CONNECTORS_ALLOW_CUSTOM_BASE_URL,
};

startSubgraphProcess({
  service: SERVICE,
  env,
  notifyChannel: NOTIFY_CHANNEL,
  eventCodec: customersPii,
  systemPoolExtra: env.CONNECTORS_ENABLED ? 1 : 0,
  // Operation metrics, tracing and /metrics come from the bootstrap; the loaders report their batch sizes.
  createServer: ({ env, db, systemDb, log, readiness, onLoaderBatch, metrics }) => {
    const deliveries = new Counter({
      name: 'cos_webhook_deliveries_total',
      help: 'Webhook deliveries by provider and outcome (ACCEPTED, DUPLICATE, IGNORED or the refusal code)',
      labelNames: ['provider', 'outcome'],
      registers: [metrics.registry],
    });
    return createServer({
      db,
      systemDb,
      log,
      internalSecret: env.INTERNAL_SECRET,
      onLoaderBatch,
      readiness,
      connections,
      webhooks: {
        maxBodyBytes: env.WEBHOOK_MAX_BODY_BYTES,
        toleranceS: env.WEBHOOK_TOLERANCE_S,
        bodyToleranceS: env.WEBHOOK_BODY_TOLERANCE_S,
        onDelivery: (provider, outcome) => deliveries.inc({ provider, outcome }),
      },
    });
  },
  runner: ({ env, db, systemDb, log, metrics }) => {
    if (!env.CONNECTORS_ENABLED) return { stop: async () => {} };
    if (!env.CONNECTIONS_MASTER_KEYS) log.warn('CONNECTIONS_MASTER_KEYS unset: connection credentials use the development key (never in production)');
    const runs = new Counter({ name: 'cos_connector_runs_total', help: 'Connector runs by result status', labelNames: ['status'], registers: [metrics.registry] });
    return createConnectorRunner({
      db,
      systemDb,
      log: log.child({ component: 'connectors' }),
      connections,
      pollMs: env.CONNECTORS_POLL_MS,
      concurrency: env.CONNECTORS_CONCURRENCY,
      leaseMs: env.CONNECTORS_LEASE_MS,
      timeoutMs: env.CONNECTOR_TIMEOUT_MS,
      callAttempts: env.CONNECTOR_CALL_ATTEMPTS,
      breakerFailures: env.CONNECTOR_BREAKER_FAILURES,
      breakerHalfOpenMs: env.CONNECTOR_BREAKER_HALF_OPEN_MS,
      maxFailures: env.CONNECTOR_MAX_FAILURES,
      backoffBaseMs: env.CONNECTOR_BACKOFF_BASE_MS,
      backoffMaxMs: env.CONNECTOR_BACKOFF_MAX_MS,
      maxPagesPerRun: 20,
      deliveriesRetentionDays: env.CONNECTION_DELIVERIES_RETENTION_DAYS,
      onRun: (status) => runs.inc({ status }),
    }).start();
  },
}).catch(exitOnStartupError(SERVICE));
