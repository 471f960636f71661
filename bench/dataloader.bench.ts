/**
 * DataLoader effectiveness: SQL statements per request and entity batch sizes for the list queries, through the
 * federated path (Apollo's query planner, the four real subgraphs' resolvers and stores, real Postgres).
 *
 * Data is seeded through the real stack (processes, NATS reactions included); the stack is then stopped and the
 * four subgraphs are rebuilt IN-PROCESS over the same database so each one's statements can be counted exactly
 * with Db.onQuery (every statement a resolver runs; BEGIN/set_config/COMMIT of the transaction wrapper excluded).
 * A gateway (@apollo/gateway, same planner as ours) signs the principal and records every subgraph fetch and the
 * number of entity representations it carries. Each query runs 3× (cold then warm); the 3rd run is reported.
 * Env: BENCH_TASKS (120).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { signPrincipal, type Principal } from '@cos/auth';
import { createPool, Db, serviceDatabase } from '@cos/db';
import { createLogger } from '@cos/logger';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { startTestStack } from '../e2e/support/test-stack';
import { gqlOk } from '../scripts/lib/graphql-client';
import { gatewayCompatibleSupergraph } from '../gateway/src/authz/requirements';
import { SERVICES, type ServiceName } from '../scripts/lib/paths';
import { seedBenchData } from './lib/seed-data';
import { ensureActiveSigningKey, KeyRing } from '../services/identity/src/auth/keyring';
import { createServer as createIdentity } from '../services/identity/src/server';
import { createServer as createTasks } from '../services/tasks/src/server';
import { createServer as createCustomers } from '../services/customers/src/server';
import { createServer as createAgents } from '../services/agents/src/server';

const here = path.dirname(fileURLToPath(import.meta.url));
const TASKS = process.env.BENCH_TASKS ? Number(process.env.BENCH_TASKS) : 120;
const log = (m: string) => console.error(`[dataloader.bench] ${m}`);

const TASK_FIELDS = `id title status
  assignee { __typename ... on User { id name } ... on Agent { id name kind } }
  customer { id name healthScore { score grade } owner { id name } }
  createdBy { id name }
  comments { id body author { id name } }
  agentRuns { id status agent { id name } }
  approvals { id status }`;

const SCENARIOS: Array<{ name: string; query: string; variables: Record<string, unknown> }> = [
  ...[20, 50, 100].map((n) => ({ name: `tasks(first: ${n}) nested`, query: `query($n:Int!){ tasks(first:$n){ totalCount edges { node { ${TASK_FIELDS} } } } }`, variables: { n } })),
  { name: 'tasks(first: 20) flat', query: `query{ tasks(first:20){ edges { node { id title status } } } }`, variables: {} },
  ...[20, 50].map((n) => ({
    name: `customers(first: ${n}) nested`,
    query: `query($n:Int!){ customers(first:$n){ edges { node { id name healthScore { score } churnRisk owner { id name } contacts { name } tasks(first: 5) { totalCount edges { node { id title assignee { __typename ... on User { name } } } } } } } } }`,
    variables: { n },
  })),
  { name: 'agents with runs', query: `query{ agents { id name runs(first: 10) { id status task { id title customer { name } } } } }`, variables: {} },
];

interface Fetch {
  subgraph: string;
  entities: number;
}

async function main() {
  const secret = randomBytes(32).toString('hex');
  log('seeding through the real stack');
  const ts = await startTestStack({ internalSecret: secret, extraEnv: { LOG_LEVEL: 'warn' } });
  let data;
  try {
    data = await seedBenchData(ts.gatewayUrl, ts.db.adminUrl, { users: 10, customers: 25, tasks: TASKS, commentsPerTask: 2 }, log);
    // Let the reactions settle (agent runs for agent-assigned tasks) so agentRuns are part of the picture.
    await new Promise((r) => setTimeout(r, 1500));
    await gqlOk(ts.gatewayUrl, '{ tasks(first: 1) { totalCount } }', {}, { token: data.tokens[0] });
  } catch (err) {
    await ts.stop();
    throw err;
  }
  await ts.stack.stop();

  const silent = createLogger('dataloader-bench', 'silent');
  const counts = new Map<ServiceName, string[]>();
  const dbs: Db[] = [];
  const mkDb = (svc: ServiceName, url: string) => {
    const db = new Db(createPool({ connectionString: url, schema: svc, applicationName: `bench-${svc}`, max: 10, statementTimeoutMs: 5_000 }));
    db.onQuery((e) => counts.get(svc)?.push(/\/\*\s*([\w.-]+)\s*\*\//.exec(e.sql)?.[1] ?? e.sql.replace(/\s+/g, ' ').slice(0, 40)));
    dbs.push(db);
    return db;
  };
  const loaderBatches: Array<{ loader: string; size: number }> = [];
  const yogas: Record<ServiceName, { fetch: unknown }> = {} as never;
  for (const svc of SERVICES) {
    const cfg = serviceDatabase(svc, ts.db.adminUrl);
    const db = mkDb(svc, cfg.runtimeUrl);
    if (svc === 'identity') {
      const systemDb = mkDb(svc, cfg.systemUrl);
      await ensureActiveSigningKey(systemDb);
      const keys = new KeyRing(systemDb, { accessTokenTtlS: 900 });
      yogas.identity = createIdentity({ db, systemDb, keys, log: silent, config: { internalSecret: secret, refreshTokenTtlS: 3600, invitationTtlS: 3600, inviteUrlBase: 'http://bench/accept' } }).yoga;
    } else if (svc === 'tasks') yogas.tasks = createTasks({ db, internalSecret: secret, log: silent }).yoga;
    else if (svc === 'customers')
      yogas.customers = createCustomers({ db, internalSecret: secret, log: silent, onLoaderBatch: (loader: string, size: number) => loaderBatches.push({ loader, size }) }).yoga;
    else yogas.agents = createAgents({ db, internalSecret: secret, log: silent, maxAttempts: 3 }).yoga;
  }
  const servers: http.Server[] = [];
  const urls: Record<string, string> = {};
  for (const svc of SERVICES) {
    const s = http.createServer(yogas[svc] as unknown as http.RequestListener);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    urls[svc] = `http://127.0.0.1:${(s.address() as AddressInfo).port}/graphql`;
  }

  let fetches: Fetch[] = [];
  // No usage telemetry to Apollo and no cloud-metadata probes (loopback only, and a fair baseline).
  process.env.APOLLO_TELEMETRY_DISABLED = 'true';
  const gateway = new ApolloGateway({
    // The plan is what matters here (fetches and batch sizes); authorization directives are the gateway's concern.
    supergraphSdl: gatewayCompatibleSupergraph(readFileSync(path.join(here, '../schema/supergraph.graphql'), 'utf8')),
    buildService: ({ name }) =>
      new RemoteGraphQLDataSource<{ principal: Principal }>({
        url: urls[name.toLowerCase()],
        willSendRequest({ request, context }) {
          const principal = (context as { principal?: Principal }).principal ?? { kind: 'anonymous' };
          for (const [k, v] of Object.entries(signPrincipal(principal, secret))) request.http?.headers.set(k, v);
          const reps = (request.variables as { representations?: unknown[] } | undefined)?.representations;
          fetches.push({ subgraph: name.toLowerCase(), entities: reps?.length ?? 0 });
        },
      }),
  });
  const server = new ApolloServer<{ principal: Principal }>({ gateway });
  await server.start();
  const principal: Principal = { kind: 'user', userId: data.userIds[0]!, orgId: data.orgId, role: 'OWNER', scopes: (await import('@cos/auth')).scopesForRole('OWNER') };

  const rows: string[] = [];
  try {
    for (const sc of SCENARIOS) {
      let result: { sql: Map<ServiceName, string[]>; fetches: Fetch[]; batches: typeof loaderBatches; items: number } | undefined;
      for (let run = 0; run < 3; run++) {
        for (const svc of SERVICES) counts.set(svc, []);
        fetches = [];
        loaderBatches.length = 0;
        const res = await server.executeOperation({ query: sc.query, variables: sc.variables }, { contextValue: { principal } });
        if (res.body.kind !== 'single' || res.body.singleResult.errors?.length) {
          throw new Error(`${sc.name}: ${JSON.stringify(res.body.kind === 'single' ? res.body.singleResult.errors : 'incremental')}`);
        }
        const d = res.body.singleResult.data as Record<string, { edges?: unknown[] } | unknown[]>;
        const top = Object.values(d)[0];
        const items = Array.isArray(top) ? top.length : (top?.edges?.length ?? 0);
        result = { sql: new Map([...counts].map(([k, v]) => [k, [...v]])), fetches: [...fetches], batches: [...loaderBatches], items };
      }
      const r = result!;
      const total = [...r.sql.values()].reduce((a, v) => a + v.length, 0);
      const per = SERVICES.map((s) => r.sql.get(s)?.length ?? 0).join(' / ');
      const ent = r.fetches.filter((f) => f.entities > 0).map((f) => `${f.subgraph}:${f.entities}`).join(', ') || '—';
      const lb = r.batches.length ? r.batches.map((b) => `${b.loader}:${b.size}`).join(', ') : '—';
      rows.push(`| ${sc.name} | ${r.items} | ${total} | ${per} | ${(total / Math.max(1, r.items)).toFixed(2)} | ${r.fetches.length} | ${ent} | ${lb} |`);
      log(`${sc.name}: ${total} statements — ${SERVICES.map((s) => `${s}[${(r.sql.get(s) ?? []).join(',')}]`).join(' ')}`);
    }
  } finally {
    await server.stop();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await Promise.allSettled(dbs.map((d) => d.close()));
    await ts.db.drop().catch(() => {});
  }
  console.log(`### DataLoader: SQL statements per request and entity batch sizes

${data.tokens.length} users, ${data.customerIds.length} customers, ${data.taskIds.length} tasks with 2 comments each (every 5th assigned to an agent), one
organization. Statements counted per subgraph with Db.onQuery (resolver SQL; transaction BEGIN/COMMIT not counted).
"entity fetches" lists each _entities call of the query plan as subgraph:representations — one call per entity
type and plan step, whatever the page size. Customers' DataLoader batches are listed as loader:keys.

| query | items | SQL total | identity / tasks / customers / agents | SQL per item | subgraph fetches | entity fetches (subgraph:reps) | customers loader batches |
|---|---|---|---|---|---|---|---|
${rows.join('\n')}

A constant SQL total across page sizes 20 → 50 → 100 is the DataLoader property: cost grows with the number of
entity types, not with rows.
`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
