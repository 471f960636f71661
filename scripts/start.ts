/**
 * `pnpm start`: brings the whole graph up on this machine.
 *  1. makes sure Postgres, NATS (JetStream) and Redis are reachable (infra/local/ensure-services.sh: uses running
 *     ones, else starts installed servers with data under .data/, else installs them from Debian's packages);
 *  2. creates the database and applies migrations;
 *  3. starts the four subgraphs, the mailer and the gateway (logs in .data/logs/; mails without SMTP_URL in .data/mail);
 *  4. seeds the demo data once (and registers the MCP tools for the demo organization); starts the agent worker and
 *     the MCP server; prints the URLs and a first query. Ctrl-C stops everything cleanly (exit 0).
 *
 * Env: PORT (gateway, default 4000; the subgraphs take the next four ports), COS_PG_ADMIN_URL, NATS_URL, REDIS_URL,
 * COS_SUBJECT_PREFIX, COS_DATA_DIR (default <repo>/.data: logs, the internal secret), NODE_ENV (default development).
 * package.json runs it as `exec node --import tsx scripts/start.ts`, so that Ctrl-C ends in exit 0 after a clean stop:
 * without `exec` the shell between pnpm and node is itself killed by the terminal's SIGINT, and through tsx's CLI
 * its parent process SIGKILLs this one (exit 130) when it does not acknowledge the signal within ~60 ms; either way
 * pnpm reported `ELIFECYCLE Command failed`.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureWorkerKeyFile, workerProcess } from './lib/agent-worker';
import { ContractBlockedError, ensureDatabase } from '@cos/db';
import { migrateAll } from './lib/database';
import { mcpProcess } from './lib/mcp';
import { repoRoot, servicePortsAfter } from './lib/paths';
import { buildConsole, consoleProcess } from './lib/console';
import { startStack } from './lib/stack';
import { DEMO, describeDemo, seed } from './seed';

const env = {
  pgAdminUrl: process.env.COS_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/cos',
  natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  gatewayPort: Number(process.env.PORT ?? 4000),
  // With PORT moved (a second stack) the extra processes move with it.
  mcpPort: Number(process.env.MCP_PORT ?? Number(process.env.PORT ?? 4000) + 10),
  mailerPort: Number(process.env.MAILER_PORT ?? Number(process.env.PORT ?? 4000) + 6),
  prefix: process.env.COS_SUBJECT_PREFIX ?? 'cos',
  nodeEnv: (process.env.NODE_ENV as 'development' | 'production' | undefined) ?? 'development',
};

const dataDir = path.resolve(process.env.COS_DATA_DIR ?? path.join(repoRoot, '.data'));
mkdirSync(dataDir, { recursive: true });

console.log('» checking Postgres, NATS and Redis');
const infra = spawnSync('bash', [path.join(repoRoot, 'infra/local/ensure-services.sh')], { stdio: 'inherit', env: { ...process.env, COS_DATA_DIR: dataDir } });
if (infra.status !== 0) {
  console.error('could not make the backing services available (see above)');
  process.exit(1);
}

console.log('» migrating');
if (await ensureDatabase(env.pgAdminUrl)) console.log('  created the database');
// The local stack starts all its processes after this line, so the contract phase is safe here too — unless an
// instance of an older release still runs against this database (another checkout): then it stays pending.
try {
  await migrateAll(env.pgAdminUrl, (m) => console.log(`  ${m}`), { phase: 'contract' });
} catch (err) {
  if (!(err instanceof ContractBlockedError)) throw err;
  console.log(`  ${err.message}\n  continuing with the expand phase only`);
  await migrateAll(env.pgAdminUrl, (m) => console.log(`  ${m}`));
}

// One internal secret per checkout, kept across restarts (production passes INTERNAL_SECRET from a secret store).
const secretFile = path.join(dataDir, 'internal-secret');
if (!process.env.INTERNAL_SECRET && !existsSync(secretFile)) writeFileSync(secretFile, randomBytes(32).toString('hex'), { mode: 0o600 });
const internalSecret = process.env.INTERNAL_SECRET ?? readFileSync(secretFile, 'utf8').trim();
// Likewise the master key of the connection credentials' envelope encryption (customers only; README "Customer signals").
const masterKeysFile = path.join(dataDir, 'connections-master-keys');
if (!process.env.CONNECTIONS_MASTER_KEYS && !existsSync(masterKeysFile)) {
  writeFileSync(masterKeysFile, `k1:${randomBytes(32).toString('base64')}`, { mode: 0o600 });
}
const connectionsMasterKeys = process.env.CONNECTIONS_MASTER_KEYS ?? readFileSync(masterKeysFile, 'utf8').trim();
// And the key of unsubscribe links (README "Email": the mailer signs, identity verifies): old links keep working.
const unsubscribeSecretFile = path.join(dataDir, 'mail-unsubscribe-secret');
if (!process.env.MAIL_UNSUBSCRIBE_SECRET && !process.env.MAIL_UNSUBSCRIBE_SECRET_FILE && !existsSync(unsubscribeSecretFile)) {
  writeFileSync(unsubscribeSecretFile, randomBytes(32).toString('hex'), { mode: 0o600 });
}
const unsubscribeEnv: Record<string, string> =
  process.env.MAIL_UNSUBSCRIBE_SECRET || process.env.MAIL_UNSUBSCRIBE_SECRET_FILE ? {} : { MAIL_UNSUBSCRIBE_SECRET_FILE: unsubscribeSecretFile };
const mailerEnv: Record<string, string> = {
  PUBLIC_BASE_URL: process.env.PUBLIC_BASE_URL ?? `http://localhost:${env.gatewayPort}`,
  MAIL_DIR: process.env.MAIL_DIR ?? path.join(dataDir, 'mail'),
  ...unsubscribeEnv,
};

console.log('» starting identity, tasks, customers, agents, the mailer and the gateway');
const stack = await startStack({
  pgAdminUrl: env.pgAdminUrl,
  natsUrl: env.natsUrl,
  redisUrl: env.redisUrl,
  subjectPrefix: env.prefix,
  internalSecret,
  gatewayPort: env.gatewayPort,
  servicePorts: servicePortsAfter(env.gatewayPort),
  logDir: path.join(dataDir, 'logs'),
  nodeEnv: env.nodeEnv,
  perProcessEnv: { customers: { CONNECTIONS_MASTER_KEYS: connectionsMasterKeys }, mailer: mailerEnv, identity: unsubscribeEnv },
  mailerPort: env.mailerPort,
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
let demo = '';
try {
  demo = describeDemo(await seed(stack.gatewayUrl, env.pgAdminUrl, (m) => console.log(`  ${m}`)));
} catch (err) {
  console.error(`seeding failed: ${(err as Error).message}`);
}
const logDir = path.relative(process.cwd(), path.join(dataDir, 'logs')) || '.';

// The seven agents work in a worker process of their own, through the graph, with a service account of the demo
// organization (MODEL_PROVIDER=openai and MODEL_* put a real model behind them; the default needs no key).
const workerMetricsPort = Number(process.env.WORKER_METRICS_PORT ?? env.gatewayPort + 5464);
try {
  const keyFile = path.join(dataDir, 'agent-worker.key');
  const how = await ensureWorkerKeyFile(stack.gatewayUrl, keyFile, DEMO.owner);
  await stack.startProcess(workerProcess({ gatewayUrl: stack.gatewayUrl, apiKeyFile: keyFile, metricsPort: workerMetricsPort }));
  console.log(`» agent worker started (${how === 'created' ? 'new' : 'existing'} service account; model: ${process.env.MODEL_PROVIDER ?? 'rules'})`);
} catch (err) {
  console.error(`the agent worker did not start: ${(err as Error).message} (see ${logDir}/agent-worker.log)`);
}

// Tools for AI assistants (README "MCP server"): every call goes through the gateway with the caller's own key.
try {
  await stack.startProcess(mcpProcess({ gatewayUrl: stack.gatewayUrl, port: env.mcpPort }));
  console.log(`» MCP server started on :${env.mcpPort}`);
} catch (err) {
  console.error(`the MCP server did not start: ${(err as Error).message} (see ${logDir}/mcp.log)`);
}

// The web console: built on each start (Vite, a few seconds) and served by a static server process of its own.
const consolePort = Number(process.env.CONSOLE_PORT ?? env.gatewayPort + 5);
try {
  buildConsole();
  await stack.startProcess(consoleProcess({ port: consolePort, gatewayUrl: `http://localhost:${env.gatewayPort}/graphql` }));
} catch (err) {
  console.error(`the console did not start: ${(err as Error).message} (see ${logDir}/console.log)`);
}

console.log(`
Company OS graph is up.
  Console:    http://localhost:${consolePort}/  (${DEMO.owner.email} / ${DEMO.owner.password})
  GraphQL:    http://localhost:${env.gatewayPort}/graphql${env.nodeEnv === 'development' ? '  (open it in a browser for GraphiQL)' : ''}
  Agents:     worker metrics at http://localhost:${workerMetricsPort}/metrics
  MCP:        http://localhost:${env.mcpPort}/mcp  (tools for AI assistants; README "MCP server")
  Mail:       ${process.env.SMTP_URL ? 'sent through SMTP_URL' : `${path.relative(process.cwd(), mailerEnv.MAIL_DIR!) || '.'}/*.eml (no SMTP_URL; README "Email")`}
  Logs:       ${logDir}/<service>.log${demo ? `\n  Demo data:  ${demo}` : ''}

Log in:
  curl -s localhost:${env.gatewayPort}/graphql -H 'content-type: application/json' \\
    -d '{"query":"mutation { login(email: \\"${DEMO.owner.email}\\", password: \\"${DEMO.owner.password}\\") { accessToken } }"}'

Then, with the header Authorization: Bearer <accessToken> (curl -H, or GraphiQL's Headers tab):
  { tasks(first: 5) { edges { node { title status assignee { ... on User { name } ... on Agent { name kind } }
      customer { name healthScore { score grade } churnRisk } } } } }

Ctrl-C stops everything.`);
