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

const SERVICE = 'tasks';

startSubgraphProcess({
  service: SERVICE,
  env: loadEnv(),
  notifyChannel: NOTIFY_CHANNEL,
  consumers: ({ bus, systemDb, log }) => startTasksConsumers({ bus, systemDb, log }),
  createServer: ({ env, db, log, readiness, onLoaderBatch }) => createServer({ db, internalSecret: env.INTERNAL_SECRET, log, readiness, onLoaderBatch }),
}).catch(exitOnStartupError(SERVICE));
