/**
 * agents service main (shared bootstrap: @cos/service-kit startSubgraphProcess — migrations, pools, metrics,
 * tracing, bus, outbox relay, consumers, graceful shutdown) + the lease supervisor. Consumes identity
 * (OrganizationCreated -> the seven agents) and tasks (known tasks, assignment -> queued run, approval decisions ->
 * resume/cancel); publishes its AgentEvent union through the outbox relay. The agents themselves run in workers
 * (agent-worker/) that work through the graph with the worker protocol.
 */
import { exitOnStartupError, startSubgraphProcess } from '@cos/service-kit';
import { loadEnv } from './env';
import { startAgentsConsumers } from './events/consumers';
import { SERVICE } from './events/subjects';
import { createAgentMetrics } from '@cos/observability';
import { NOTIFY_CHANNEL } from './projector';
import { createServer } from './server';
import { createSupervisor } from './supervisor';

const env = loadEnv();
const retry = { baseMs: env.AGENTS_RETRY_BASE_MS, maxMs: env.AGENTS_RETRY_MAX_MS };
let agentMetrics: ReturnType<typeof createAgentMetrics> | undefined;

startSubgraphProcess({
  service: SERVICE,
  env,
  notifyChannel: NOTIFY_CHANNEL,
  // The supervisor takes one system connection per pass.
  systemPoolExtra: env.AGENTS_SUPERVISOR_ENABLED ? 1 : 0,
  consumers: ({ bus, systemDb, log }) => startAgentsConsumers({ bus, systemDb, log, maxAttempts: env.AGENTS_MAX_ATTEMPTS }),
  // Stopped first at shutdown, before the consumers and the relay.
  runner: ({ systemDb, log, metrics }) => {
    agentMetrics = createAgentMetrics(metrics.registry);
    const supervisor = createSupervisor({
      db: systemDb,
      log,
      intervalMs: env.AGENTS_SUPERVISOR_MS,
      retry,
      onExpired: (outcome) => agentMetrics?.leasesExpired.inc({ outcome }),
    });
    if (env.AGENTS_SUPERVISOR_ENABLED) supervisor.start();
    return supervisor;
  },
  createServer: ({ db, log, readiness, onLoaderBatch }) =>
    createServer({
      db,
      log,
      internalSecret: env.INTERNAL_SECRET,
      maxAttempts: env.AGENTS_MAX_ATTEMPTS,
      retry,
      agentMetrics,
      readiness,
      onLoaderBatch,
    }),
}).catch(exitOnStartupError(SERVICE));
