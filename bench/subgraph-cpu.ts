/**
 * CPU per gateway request spent in the four SUBGRAPHS, without the gateway's own CPU on the machine:
 * 1. starts the stack (4 subgraphs + gateway) on a scratch database and seeds it through the gateway (bench data);
 * 2. sends `BenchTasksPage` once through STOCK @apollo/gateway (bench/lib/stock-gateway.ts: its query plan does not
 *    change with our gateway's work) while recording proxies in front of the subgraphs capture the plan's subgraph
 *    fetches (a tasks page, then the `_entities` calls) with their bodies;
 * 3. replays that set of fetches straight to the subgraphs from this process (undici, closed loop, C clients; each
 *    "request" = the first fetch, then the rest in parallel like the plan), re-signing the principal header
 *    (`signPrincipal`, the same HMAC the gateway uses) every minute, and reads the subgraph processes' user+sys CPU
 *    from /proc before/after.
 *
 * `tsx bench/subgraph-cpu.ts` prints one JSON line. Env: BENCH_DURATION_S (20), BENCH_WARMUP_S (5),
 * BENCH_CLIENTS (8), BENCH_TASKS (200), BENCH_PAGE (50), BENCH_LOG_LEVEL (info: what production runs),
 * BENCH_PROFILE=<service> (also --cpu-prof that subgraph during the measured window and summarise it),
 * BENCH_NODE_OPTIONS (NODE_OPTIONS for every process of the stack, e.g. V8 heap flags).
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { PRINCIPAL_HEADER, SIGNATURE_HEADER, signPrincipal, type Principal } from '@cos/auth';
import { freePort, startTestStack } from '../e2e/support/test-stack';
import { eventually, gql } from '../scripts/lib/graphql-client';
import { SERVICES, type ServiceName } from '../scripts/lib/paths';
import { summarizeProfile } from './lib/profile';
import { treeCpuMs, treePids } from './lib/proc';
import { BENCH_QUERY } from './lib/bench-query';
import { seedBenchData } from './lib/seed-data';

const here = path.dirname(fileURLToPath(import.meta.url));
const num = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const DURATION_S = num('BENCH_DURATION_S', 20);
const WARMUP_S = num('BENCH_WARMUP_S', 5);
const CLIENTS = num('BENCH_CLIENTS', 8);
const TASKS = num('BENCH_TASKS', 200);
const PAGE = num('BENCH_PAGE', 50);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
const PROFILE = process.env.BENCH_PROFILE as ServiceName | undefined;
const log = (m: string) => console.error(`[subgraph-cpu] ${m}`);



interface Recorded {
  service: ServiceName;
  body: string;
  principal: string;
  at: number;
}

/** A forwarding proxy per subgraph that records the POST bodies while `recording` is on. */
async function startRecorders(targets: Record<ServiceName, number>) {
  const recorded: Recorded[] = [];
  let recording = false;
  const upstream = Object.fromEntries(SERVICES.map((s) => [s, new Pool(`http://127.0.0.1:${targets[s]}`, { connections: 16 })])) as Record<ServiceName, Pool>;
  const ports = {} as Record<ServiceName, number>;
  const servers = await Promise.all(
    SERVICES.map(async (s) => {
      const port = await freePort();
      ports[s] = port;
      const server = createServer((req: IncomingMessage, res: ServerResponse) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (recording && req.method === 'POST') {
            recorded.push({ service: s, body, principal: String(req.headers[PRINCIPAL_HEADER] ?? ''), at: performance.now() });
          }
          const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'connection' && k !== 'content-length')) as Record<string, string>;
          upstream[s]
            .request({ path: req.url ?? '/', method: (req.method ?? 'GET') as 'POST', headers, body: req.method === 'GET' ? undefined : body })
            .then(async (r) => {
              const text = await r.body.text();
              res.writeHead(r.statusCode, { 'content-type': String(r.headers['content-type'] ?? 'application/json') });
              res.end(text);
            })
            .catch((err: Error) => {
              res.writeHead(502);
              res.end(err.message);
            });
        });
      });
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
      return server;
    }),
  );
  return {
    ports,
    recorded,
    setRecording: (on: boolean) => (recording = on),
    async close() {
      for (const s of servers) s.close();
      await Promise.all(Object.values(upstream).map((p) => p.close()));
    },
  };
}

async function main() {
  const secret = randomBytes(32).toString('hex');
  const servicePorts = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await freePort()]))) as Record<ServiceName, number>;
  const rec = await startRecorders(servicePorts);
  const profDir = PROFILE ? mkdtempSync(path.join(tmpdir(), 'cos-sg-prof-')) : '';
  log(`starting the stack (LOG_LEVEL=${LOG_LEVEL})`);
  const ts = await startTestStack({
    internalSecret: secret,
    servicePorts,
    extraEnv: { LOG_LEVEL, ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}) },
    perProcessEnv: {
      ...(PROFILE ? { [PROFILE]: { NODE_OPTIONS: `--import ${path.join(here, 'lib/cpu-prof-window.mjs')}`, COS_CPU_PROF_DIR: profDir } } : {}),
    },
  });
  const pools = Object.fromEntries(SERVICES.map((s) => [s, new Pool(`http://127.0.0.1:${servicePorts[s]}`, { connections: CLIENTS, pipelining: 1 })])) as Record<ServiceName, Pool>;
  try {
    const data = await seedBenchData(ts.gatewayUrl, ts.db.adminUrl, { users: 20, customers: 20, tasks: TASKS, commentsPerTask: 2 }, log);
    // Let the reactions (agent runs for agent-assigned tasks) settle so every replay sees the same data.
    await new Promise((r) => setTimeout(r, 3_000));
    const token = data.tokens[1]!;
    const stockPort = await freePort();
    const stock = spawn(path.join(here, '../node_modules/.bin/tsx'), [path.join(here, 'lib/stock-gateway.ts')], {
      env: {
        ...process.env,
        NODE_ENV: 'test',
        PORT: String(stockPort),
        SUPERGRAPH: path.join(here, '../schema/supergraph.graphql'),
        INTERNAL_SECRET: secret,
        JWKS_URL: ts.stack.serviceUrl('identity').replace(/\/graphql$/, '/.well-known/jwks.json'),
        ...Object.fromEntries(SERVICES.map((s) => [`SUBGRAPH_${s.toUpperCase()}_URL`, `http://127.0.0.1:${rec.ports[s]}/graphql`])),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const stockUrl = `http://127.0.0.1:${stockPort}/`;
    let r: Awaited<ReturnType<typeof gql>> | undefined;
    try {
      await eventually(async () => (await gql(stockUrl, '{ __typename }')).status === 200, 60_000, 250);
      rec.setRecording(true);
      r = await gql(stockUrl, BENCH_QUERY, { first: PAGE }, { token });
      rec.setRecording(false);
    } finally {
      stock.kill('SIGTERM');
    }
    if (r.errors?.length) throw new Error(`bench query failed: ${JSON.stringify(r.errors)}`);
    const fetches = [...rec.recorded].sort((a, b) => a.at - b.at);
    if (fetches.length < 2) throw new Error(`expected several subgraph fetches, recorded ${fetches.length}`);
    const principal = JSON.parse(Buffer.from(fetches[0]!.principal, 'base64url').toString('utf8')) as Principal;
    log(`recorded ${fetches.length} subgraph fetches: ${fetches.map((f) => f.service).join(', ')}`);

    let signed = signPrincipal(principal, secret);
    const resign = setInterval(() => (signed = signPrincipal(principal, secret)), 60_000);
    const send = async (f: Recorded): Promise<boolean> => {
      const requestId = randomUUID();
      const res = await pools[f.service].request({
        path: '/graphql',
        method: 'POST',
        headers: { 'content-type': 'application/json', [PRINCIPAL_HEADER]: signed[PRINCIPAL_HEADER]!, [SIGNATURE_HEADER]: signed[SIGNATURE_HEADER]!, 'x-request-id': requestId, 'x-correlation-id': requestId },
        body: f.body,
      });
      const text = await res.body.text();
      return res.statusCode === 200 && !text.includes('"errors":');
    };
    const [first, ...rest] = fetches;
    let firstFailure: string | null = null;
    const run = async (ms: number) => {
      let done = 0;
      let failed = 0;
      const end = performance.now() + ms;
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          while (performance.now() < end) {
            const oks = [await send(first!), ...(await Promise.all(rest.map(send)))];
            if (oks.every(Boolean)) done++;
            else {
              failed++;
              firstFailure ??= 'a replayed fetch answered an error';
            }
          }
        }),
      );
      return { done, failed };
    };
    const subPids = ts.stack.processes.filter((p) => p.name !== 'gateway').map((p) => ({ name: p.name, pid: p.child.pid! }));
    log(`warm-up ${WARMUP_S}s`);
    await run(WARMUP_S * 1000);
    const profiled = PROFILE ? treePids(subPids.find((p) => p.name === PROFILE)!.pid) : [];
    const signalProfiled = () => profiled.forEach((pid) => process.kill(pid, 'SIGUSR2'));
    signalProfiled();
    const cpu0 = subPids.map((p) => treeCpuMs(p.pid));
    const t0 = performance.now();
    log(`measuring ${DURATION_S}s at ${CLIENTS} clients`);
    const { done, failed } = await run(DURATION_S * 1000);
    const elapsed = performance.now() - t0;
    signalProfiled();
    await new Promise((r) => setTimeout(r, 1_000)); // the profiles are written
    const perService = Object.fromEntries(subPids.map((p, i) => [p.name, +((treeCpuMs(p.pid) - cpu0[i]!) / done).toFixed(2)]));
    const total = Object.values(perService).reduce((a, b) => a + b, 0);
    clearInterval(resign);
    console.log(
      JSON.stringify({
        logLevel: LOG_LEVEL,
        clients: CLIENTS,
        fetchesPerRequest: fetches.length,
        requests: done,
        failed,
        firstFailure,
        rps: +((done / elapsed) * 1000).toFixed(1),
        subgraphCpuMsPerRequest: +total.toFixed(2),
        perService,
      }),
    );
  } finally {
    await Promise.all(Object.values(pools).map((p) => p.close()));
    await ts.stop();
    await rec.close();
  }
  if (PROFILE) {
    const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(profDir, f));
    if (files.length) console.log(summarizeProfile(files, 30));
    log(`profiles in ${profDir}`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
