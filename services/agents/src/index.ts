/**
 * agents service main (shared bootstrap: @cos/service-kit startSubgraphProcess — migrations, pools, metrics,
 * tracing, bus, outbox relay, consumers, graceful shutdown) + the agent runner. Consumes identity
 * (OrganizationCreated -> the seven agents) and tasks (known tasks, assignment -> queued run, approval decisions ->
 * resume/cancel); publishes its AgentEvent union through the outbox relay.
 */
import { exitOnStartupError, startSubgraphProcess } from '@cos/service-kit';
import { loadEnv } from './env';
import { startAgentsConsumers } from './events/consumers';
import { SERVICE } from './events/subjects';
import { NOTIFY_CHANNEL } from './projections';
import { createRunner } from './runner/runner';
import { createServer } from './server';

const env = loadEnv();

startSubgraphProcess({
  service: SERVICE,
  env,
  notifyChannel: NOTIFY_CHANNEL,
  // System pool: relay, consumers and the runner (heartbeats included) share it, so it needs room for all of them.
  systemPoolExtra: env.AGENTS_RUNNER_ENABLED ? env.AGENTS_RUNNER_CONCURRENCY : 0,
  consumers: ({ bus, systemDb, log }) => startAgentsConsumers({ bus, systemDb, log, maxAttempts: env.AGENTS_MAX_ATTEMPTS }),
  // Stopped first at shutdown: stop claiming and let in-flight steps checkpoint, then consumers and the relay stop.
  runner: ({ systemDb, log }) => {
    const runner = createRunner({
      db: systemDb,
      log,
      leaseMs: env.AGENTS_LEASE_MS,
      heartbeatMs: env.AGENTS_HEARTBEAT_MS,
      pollMs: env.AGENTS_POLL_MS,
      supervisorMs: env.AGENTS_SUPERVISOR_MS,
      concurrency: env.AGENTS_RUNNER_CONCURRENCY,
    });
    if (env.AGENTS_RUNNER_ENABLED) runner.start();
    return runner;
  },
  createServer: ({ db, log, readiness, onLoaderBatch }) =>
    createServer({ db, log, internalSecret: env.INTERNAL_SECRET, maxAttempts: env.AGENTS_MAX_ATTEMPTS, readiness, onLoaderBatch }),
}).catch(exitOnStartupError(SERVICE));
