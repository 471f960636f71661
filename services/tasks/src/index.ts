/**
 * tasks service main (shared bootstrap: @cos/service-kit startSubgraphProcess — migrations, pools, metrics,
 * tracing, bus, outbox relay, consumers, graceful shutdown). Consumes identity (members), agents (directory,
 * approval requests) and customers (churn risk) events; publishes its own TaskEvent union through the outbox relay.
 */
import { exitOnStartupError, startSubgraphProcess } from '@cos/service-kit';
import { loadEnv, type TasksEnv } from './env';
import { startTasksConsumers } from './events/consumers';
import { NOTIFY_CHANNEL } from './projector';
import { createServer } from './server';
import { blobStoreFromEnv } from '@cos/files';
import { filesConfig, type FilesConfig } from './files';
import { LEGACY_SCHEMA_LEVEL, useLegacyCreatorColumn } from './store/creator-column';

const SERVICE = 'tasks';
// One blob store per process (FILES_STORE: fs or s3), shared by the consumers and the server.
let files: FilesConfig | undefined;
const filesOf = (env: TasksEnv) =>
  (files ??= filesConfig({
    secret: env.INTERNAL_SECRET,
    store: blobStoreFromEnv(env),
    urlTtlS: env.FILES_URL_TTL_S,
    publicBaseUrl: env.FILES_PUBLIC_URL,
  }));

const env = loadEnv();
if (env.TASKS_LEGACY_RELEASE) useLegacyCreatorColumn();

startSubgraphProcess({
  service: SERVICE,
  env,
  schemaLevel: env.TASKS_LEGACY_RELEASE ? LEGACY_SCHEMA_LEVEL : undefined,
  notifyChannel: NOTIFY_CHANNEL,
  consumers: ({ env, bus, systemDb, log }) => startTasksConsumers({ bus, systemDb, log, blobs: filesOf(env).store }),
  createServer: ({ env, db, log, readiness, onLoaderBatch }) =>
    createServer({ db, internalSecret: env.INTERNAL_SECRET, log, readiness, onLoaderBatch, files: filesOf(env) }),
}).catch(exitOnStartupError(SERVICE));
