/**
 * customers subgraph process (shared bootstrap: @cos/service-kit startSubgraphProcess — migrations, pools, metrics
 * incl. GET /metrics, tracing, bus, outbox relay, graceful shutdown). Publishes its CustomerEvent union through the
 * outbox relay; consumes nothing.
 */
import { exitOnStartupError, startSubgraphProcess } from '@cos/service-kit';
import { loadEnv } from './env';
import { NOTIFY_CHANNEL } from './projections';
import { createServer } from './server';
import { customersPii } from './store/pii';

const SERVICE = 'customers';

startSubgraphProcess({
  service: SERVICE,
  env: loadEnv(),
  notifyChannel: NOTIFY_CHANNEL,
  eventCodec: customersPii,
  // Operation metrics, tracing and /metrics come from the bootstrap; the loaders report their batch sizes.
  createServer: ({ env, db, log, readiness, onLoaderBatch }) =>
    createServer({ db, log, internalSecret: env.INTERNAL_SECRET, onLoaderBatch, readiness }),
}).catch(exitOnStartupError(SERVICE));
