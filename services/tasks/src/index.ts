/**
 * tasks service main (shared bootstrap: @cos/service-kit startSubgraphProcess — migrations, pools, metrics,
 * tracing, bus, outbox relay, consumers, graceful shutdown). Consumes identity (members), agents (directory,
 * approval requests) and customers (churn risk) events; publishes its own TaskEvent union through the outbox relay.
 */
import { exitOnStartupError, startSubgraphProcess } from '@cos/service-kit';
import { loadEnv } from './env';
import { startTasksConsumers } from './events/consumers';
import { NOTIFY_CHANNEL } from './projections';
import { createServer } from './server';
import { LEGACY_SCHEMA_LEVEL, useLegacyCreatorColumn } from './store/creator-column';

const SERVICE = 'tasks';

const env = loadEnv();
if (env.TASKS_LEGACY_RELEASE) useLegacyCreatorColumn();

startSubgraphProcess({
  service: SERVICE,
  env,
  schemaLevel: env.TASKS_LEGACY_RELEASE ? LEGACY_SCHEMA_LEVEL : undefined,
  notifyChannel: NOTIFY_CHANNEL,
  consumers: ({ bus, systemDb, log }) => startTasksConsumers({ bus, systemDb, log }),
  createServer: ({ env, db, log, readiness, onLoaderBatch }) => createServer({ db, internalSecret: env.INTERNAL_SECRET, log, readiness, onLoaderBatch }),
}).catch(exitOnStartupError(SERVICE));
