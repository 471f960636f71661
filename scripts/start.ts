/**
 * `pnpm start`: brings the whole graph up on this machine.
 *  1. makes sure Postgres, NATS (JetStream) and Redis are reachable (infra/local/ensure-services.sh: uses running
 *     ones, else starts installed servers with data under .data/, else installs them from Debian's packages);
 *  2. creates the database and applies migrations;
 *  3. starts the four subgraphs and the gateway (logs in .data/logs/);
 *  4. seeds the demo data once; prints the URL and a first query. Ctrl-C stops everything cleanly.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureWorkerKeyFile, workerProcess } from './lib/agent-worker';
import { ensureDatabase, migrateAll } from './lib/database';
import { repoRoot } from './lib/paths';
import { buildConsole, consoleProcess } from './lib/console';
import { startStack } from './lib/stack';
import { DEMO, seed } from './seed';

const env = {
  pgAdminUrl: process.env.COS_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/cos',
  natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  gatewayPort: Number(process.env.PORT ?? 4000),
  prefix: process.env.COS_SUBJECT_PREFIX ?? 'cos',
};

const dataDir = path.join(repoRoot, '.data');
mkdirSync(dataDir, { recursive: true });

console.log('» checking Postgres, NATS and Redis');
const infra = spawnSync('bash', [path.join(repoRoot, 'infra/local/ensure-services.sh')], { stdio: 'inherit', env: process.env });
if (infra.status !== 0) {
  console.error('could not make the backing services available (see above)');
  process.exit(1);
}

console.log('» migrating');
if (await ensureDatabase(env.pgAdminUrl)) console.log('  created the database');
await migrateAll(env.pgAdminUrl, (m) => console.log(`  ${m}`));

// One internal secret per checkout, kept across restarts (production passes INTERNAL_SECRET from a secret store).
const secretFile = path.join(dataDir, 'internal-secret');
if (!process.env.INTERNAL_SECRET && !existsSync(secretFile)) writeFileSync(secretFile, randomBytes(32).toString('hex'), { mode: 0o600 });
const internalSecret = process.env.INTERNAL_SECRET ?? readFileSync(secretFile, 'utf8').trim();

console.log('» starting identity, tasks, customers, agents and the gateway');
const stack = await startStack({
  pgAdminUrl: env.pgAdminUrl,
  natsUrl: env.natsUrl,
  redisUrl: env.redisUrl,
  subjectPrefix: env.prefix,
  internalSecret,
  gatewayPort: env.gatewayPort,
  logDir: path.join(dataDir, 'logs'),
  nodeEnv: (process.env.NODE_ENV as 'development' | 'production' | undefined) ?? 'development',
}).catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  console.log('\n» stopping (draining in-flight requests)');
  await stack.stop();
  console.log('stopped');
  process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

console.log('» seeding demo data');
try {
  await seed(stack.gatewayUrl, env.pgAdminUrl, (m) => console.log(`  ${m}`));
} catch (err) {
  console.error(`seeding failed: ${(err as Error).message}`);
}

// The seven agents work in a worker process of their own, through the graph, with a service account of the demo
// organization (MODEL_PROVIDER=openai and MODEL_* put a real model behind them; the default needs no key).
const workerMetricsPort = Number(process.env.WORKER_METRICS_PORT ?? 9464);
try {
  const keyFile = path.join(dataDir, 'agent-worker.key');
  const how = await ensureWorkerKeyFile(stack.gatewayUrl, keyFile, DEMO.owner);
  await stack.startProcess(workerProcess({ gatewayUrl: stack.gatewayUrl, apiKeyFile: keyFile, metricsPort: workerMetricsPort }));
  console.log(`» agent worker started (${how === 'created' ? 'new' : 'existing'} service account; model: ${process.env.MODEL_PROVIDER ?? 'rules'})`);
} catch (err) {
  console.error(`the agent worker did not start: ${(err as Error).message} (see .data/logs/agent-worker.log)`);
}

// The web console: built on each start (Vite, a few seconds) and served by a static server process of its own.
const consolePort = Number(process.env.CONSOLE_PORT ?? 4005);
try {
  buildConsole();
  await stack.startProcess(consoleProcess({ port: consolePort, gatewayUrl: `http://localhost:${env.gatewayPort}/graphql` }));
} catch (err) {
  console.error(`the console did not start: ${(err as Error).message} (see .data/logs/console.log)`);
}

console.log(`
Company OS graph is up.
  Console (web app):         http://localhost:${consolePort}/   (${DEMO.owner.email} / ${DEMO.owner.password})
  GraphQL (HTTP, GraphiQL):  http://localhost:${env.gatewayPort}/graphql
  Agent worker metrics:      http://localhost:${workerMetricsPort}/metrics
  Logs:                      .data/logs/<service>.log

Log in:
  curl -s localhost:${env.gatewayPort}/graphql -H 'content-type: application/json' \\
    -d '{"query":"mutation { login(email: \\"${DEMO.owner.email}\\", password: \\"${DEMO.owner.password}\\") { accessToken } }"}'

Then, with Authorization: Bearer <accessToken>:
  { tasks(first: 5) { edges { node { title status assignee { ... on User { name } ... on Agent { name kind } }
      customer { name healthScore { score grade } churnRisk } } } } }

Ctrl-C stops everything.`);
