/**
 * Gateway throughput, latency and CPU per request: OUR gateway (graphql-yoga + @apollo/gateway + our plugins)
 * vs STOCK @apollo/gateway served by @apollo/server, side by side in one run, on the same supergraph, the same four
 * subgraph processes, the same seeded data, the same query and the same load. Every request carries its own
 * user's access token (50 clients over BENCH_USERS distinct users), so no result can be shared between callers.
 *
 * Our gateway runs twice: as shipped (per-principal response cache on) and with RESPONSE_CACHE=false, so the
 * execution path (planning, batched subgraph fetches, merging) is measured on its own; the cached gateway is also
 * measured with a writer adding comments at BENCH_WRITES_PER_S in the same organization (every write invalidates
 * every client's cached tasks page), and the same without its subgraph answers (RESPONSE_CACHE_SUBGRAPH=false).
 *
 * The load runs in a separate process (bench/lib/load.ts); CPU is read from /proc for each process tree.
 * Env: BENCH_DURATION_S (15), BENCH_WARMUP_S (5), BENCH_CLIENTS (50), BENCH_USERS (50), BENCH_TASKS (200),
 * BENCH_PAGE (50), BENCH_WRITES_PER_S (5), BENCH_PROFILE=1 (also write a --cpu-prof of our uncached gateway and print
 * where its time goes), BENCH_TRACING=0 (skip the run with OpenTelemetry on, exporting over OTLP to a local sink).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startTestStack, type TestStack } from '../e2e/support/test-stack';
import { gql } from '../scripts/lib/graphql-client';
import { nodeOptionsFor, SERVICES } from '../scripts/lib/paths';
import type { LoadConfig, LoadResult } from './lib/load';
import { summarizeProfile } from './lib/profile';
import { treeCpuMs, treeRssMiB } from './lib/proc';
import { BENCH_QUERY } from './lib/bench-query';
import { seedBenchData } from './lib/seed-data';

const here = path.dirname(fileURLToPath(import.meta.url));
const tsx = path.join(here, '../node_modules/.bin/tsx');
const num = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const DURATION_S = num('BENCH_DURATION_S', 15);
const WARMUP_S = num('BENCH_WARMUP_S', 5);
const CLIENTS = num('BENCH_CLIENTS', 50);
const USERS = num('BENCH_USERS', 50);
const TASKS = num('BENCH_TASKS', 200);
const PAGE = num('BENCH_PAGE', 50);
const WRITES_PER_S = num('BENCH_WRITES_PER_S', 5);
const PROFILE = process.env.BENCH_PROFILE === '1';
const TRACING = process.env.BENCH_TRACING !== '0';
// Rate limiting stays in the request path (one Redis call per request) but must not refuse the bench's load.
const NO_REFUSALS = { RATE_LIMIT_PER_USER: '1000000000' };


const log = (m: string) => console.error(`[gateway.bench] ${m}`);

function runLoadProcess(cfg: LoadConfig): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, [path.join(here, 'lib/load.ts'), JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as LoadResult) : reject(new Error(`load exited ${code}`))));
  });
}

async function waitUp(url: string, child: ChildProcess, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`stock gateway exited with ${child.exitCode}`);
    try {
      const r = await gql(url, '{ __typename }');
      if (r.status === 200) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error('stock gateway did not come up');
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface Measured {
  load: LoadResult;
  gatewayCpuMs: number;
  subgraphCpuMs: number;
  gatewayRssMiB: number;
}

async function measure(name: string, url: string, gwPid: number, subgraphPids: number[], tokens: string[]): Promise<Measured> {
  const base = { url, query: BENCH_QUERY, variables: { first: PAGE }, tokens, clients: CLIENTS };
  log(`${name}: warm-up ${WARMUP_S}s`);
  const warm = await runLoadProcess({ ...base, durationMs: WARMUP_S * 1000 });
  if (warm.failed) log(`${name}: ${warm.failed} failed during warm-up: ${warm.firstFailure}`);
  const sub0 = subgraphPids.reduce((a, p) => a + treeCpuMs(p), 0);
  const gw0 = treeCpuMs(gwPid);
  log(`${name}: measuring ${DURATION_S}s at ${CLIENTS} clients`);
  const load = await runLoadProcess({ ...base, durationMs: DURATION_S * 1000 });
  const gatewayCpuMs = treeCpuMs(gwPid) - gw0;
  const subgraphCpuMs = subgraphPids.reduce((a, p) => a + treeCpuMs(p), 0) - sub0;
  return { load, gatewayCpuMs, subgraphCpuMs, gatewayRssMiB: treeRssMiB(gwPid) };
}

/** Runs `fn` while adding a comment to a random task WRITES_PER_S times a second (through the gateway, as the owner). */
async function withWriter<T>(url: string, token: string, taskIds: string[], fn: () => Promise<T>): Promise<T & { writesPerS: number }> {
  let stop = false;
  const started = Date.now();
  let writes = 0;
  let failed = 0;
  const writer = (async () => {
    while (!stop) {
      const t0 = Date.now();
      const taskId = taskIds[Math.floor(Math.random() * taskIds.length)]!;
      const r = await gql(url, `mutation($t: ID!, $b: String!) { addComment(taskId: $t, body: $b) { id } }`, { t: taskId, b: `bench write ${writes}` }, { token });
      if (r.errors?.length) failed++;
      else writes++;
      await new Promise((res) => setTimeout(res, Math.max(0, 1000 / WRITES_PER_S - (Date.now() - t0))));
    }
  })();
  try {
    const r = await fn();
    return { ...r, writesPerS: (writes * 1000) / (Date.now() - started) };
  } finally {
    stop = true;
    await writer;
    log(`writer: ${writes} comments added, ${failed} failed`);
  }
}

/** An OTLP/HTTP receiver that only counts what it is sent (the exporter's POST /v1/traces). */
async function startOtlpSink(): Promise<{ url: string; requests: number; bytes: number; close(): Promise<void> }> {
  const stats = { requests: 0, bytes: 0 };
  const server = createServer((req, res) => {
    req.on('data', (d: Buffer) => (stats.bytes += d.length));
    req.on('end', () => {
      stats.requests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return stats.requests;
    },
    get bytes() {
      return stats.bytes;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Strips what legitimately differs between two executions (nothing should); compares the data only. */
const canonical = (data: unknown) => JSON.stringify(data);

async function main() {
  const secret = randomBytes(32).toString('hex');
  const profDir = PROFILE ? mkdtempSync(path.join(tmpdir(), 'cos-gw-prof-')) : '';
  log('starting the stack (4 subgraphs + our gateway) on a scratch database');
  const ts: TestStack = await startTestStack({
    internalSecret: secret,
    extraEnv: { LOG_LEVEL: 'warn', ...NO_REFUSALS },
  });
  let stock: ChildProcess | undefined;
  const spawned: ChildProcess[] = [];
  const sink = TRACING ? await startOtlpSink() : undefined;
  try {
    const t0 = Date.now();
    const data = await seedBenchData(ts.gatewayUrl, ts.db.adminUrl, { users: USERS, customers: 20, tasks: TASKS, commentsPerTask: 2 }, log);
    log(`seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const stockPort = await freePort();
    const stockUrl = `http://127.0.0.1:${stockPort}/`;
    stock = spawn(tsx, [path.join(here, 'lib/stock-gateway.ts')], {
      env: {
        ...process.env,
        // As deployed (infra/k8s, the Dockerfile): graphql-js's development-mode checks (instanceOf: 4 % of our
        // gateway's CPU under NODE_ENV=test) are off in both gateways.
        NODE_ENV: 'production',
        // Same V8 heap setting as ours: the comparison is of gateways, not of V8 flags.
        NODE_OPTIONS: nodeOptionsFor('gateway', process.env.NODE_OPTIONS),
        PORT: String(stockPort),
        SUPERGRAPH: path.join(here, '../schema/supergraph.graphql'),
        INTERNAL_SECRET: secret,
        JWKS_URL: ts.stack.serviceUrl('identity').replace(/\/graphql$/, '/.well-known/jwks.json'),
        ...Object.fromEntries(SERVICES.map((s) => [`SUBGRAPH_${s.toUpperCase()}_URL`, ts.stack.serviceUrl(s)])),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await waitUp(stockUrl, stock, 60_000);

    // Our gateway again, same env as the stack's, response cache off (and profiled with BENCH_PROFILE=1).
    const spawnOurs = async (env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/graphql`;
      const child = spawn(tsx, [path.join(here, '../gateway/src/index.ts')], {
        env: {
          ...process.env,
          NODE_ENV: 'production',
          LOG_LEVEL: 'warn',
          ...NO_REFUSALS,
          PORT: String(port),
          NATS_URL: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
          REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
          COS_SUBJECT_PREFIX: ts.prefix,
          INTERNAL_SECRET: secret,
          JWKS_URL: ts.stack.serviceUrl('identity').replace(/\/graphql$/, '/.well-known/jwks.json'),
          ...Object.fromEntries(SERVICES.map((s) => [`SUBGRAPH_${s.toUpperCase()}_URL`, ts.stack.serviceUrl(s)])),
          RESPONSE_CACHE: 'false',
          NODE_OPTIONS: nodeOptionsFor('gateway'),
          ...env,
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      spawned.push(child);
      await waitUp(url, child, 60_000);
      return { child, url };
    };
    const { child: uncached, url: uncachedUrl } = await spawnOurs(
      PROFILE
        ? { NODE_OPTIONS: nodeOptionsFor('gateway', `--import ${path.join(here, 'lib/cpu-prof-preload.mjs')}`), COS_CPU_PROF_DIR: profDir }
        : {},
    );
    // The same, with OpenTelemetry on: every span exported over OTLP/HTTP to a sink in this process. Tracing off is
    // the row above (no SDK registered, no tracing plugin installed), so the difference is what tracing on costs.
    const traced = TRACING ? await spawnOurs({ OTEL_EXPORTER_OTLP_ENDPOINT: sink!.url }) : undefined;
    // The response cache without its subgraph answers: what a miss costs when every subgraph is asked again.
    const clientOnly = await spawnOurs({ RESPONSE_CACHE: 'true', RESPONSE_CACHE_SUBGRAPH: 'false' });

    // Same answer from both, for the same caller: otherwise the comparison means nothing.
    const token = data.tokens[1 % data.tokens.length]!;
    const ours = await gql(ts.gatewayUrl, BENCH_QUERY, { first: PAGE }, { token });
    const theirs = await gql(stockUrl, BENCH_QUERY, { first: PAGE }, { token });
    if (ours.errors?.length || theirs.errors?.length) {
      throw new Error(`bench query failed: ours=${JSON.stringify(ours.errors)} stock=${JSON.stringify(theirs.errors)}`);
    }
    if (canonical(ours.data) !== canonical(theirs.data)) throw new Error('our gateway and stock answer the bench query differently');
    const again = await gql(uncachedUrl, BENCH_QUERY, { first: PAGE }, { token });
    if (canonical(again.data) !== canonical(theirs.data)) throw new Error('our uncached gateway answers the bench query differently');
    const edges = (ours.data as { tasks: { edges: { node: { comments: unknown[]; agentRuns: unknown[] } }[] } }).tasks.edges;
    const shape = {
      tasks: edges.length,
      comments: edges.reduce((a, e) => a + e.node.comments.length, 0),
      agentRuns: edges.reduce((a, e) => a + e.node.agentRuns.length, 0),
      bytes: JSON.stringify(ours.data).length,
    };
    log(`query answers identically through both (${shape.tasks} tasks, ${shape.comments} comments, ${shape.agentRuns} agent runs, ${shape.bytes} bytes)`);

    const gwPid = ts.stack.processes.find((p) => p.name === 'gateway')!.child.pid!;
    const subPids = ts.stack.processes.filter((p) => p.name !== 'gateway').map((p) => p.child.pid!);
    const results = {
      uncached: await measure('ours, no response cache', uncachedUrl, uncached.pid!, subPids, data.tokens),
      traced: traced ? await measure('ours, no response cache, tracing on', traced.url, traced.child.pid!, subPids, data.tokens) : undefined,
      stock: await measure('stock', stockUrl, stock.pid!, subPids, data.tokens),
      cached: await measure('ours, response cache', ts.gatewayUrl, gwPid, subPids, data.tokens),
      clientOnlyWrites: await withWriter(clientOnly.url, data.tokens[0]!, data.taskIds, () =>
        measure(`ours, client answers cached only + ${WRITES_PER_S} writes/s`, clientOnly.url, clientOnly.child.pid!, subPids, data.tokens),
      ),
      cachedWrites: await withWriter(ts.gatewayUrl, data.tokens[0]!, data.taskIds, () =>
        measure(`ours, response cache + ${WRITES_PER_S} writes/s`, ts.gatewayUrl, gwPid, subPids, data.tokens),
      ),
    };
    const row = (name: string, m: Measured) => {
      const l = m.load;
      return `| ${name} | ${l.rps.toFixed(1)} | ${l.latencyMs.p50.toFixed(1)} | ${l.latencyMs.p95.toFixed(1)} | ${l.latencyMs.p99.toFixed(1)} | ${l.latencyMs.max.toFixed(0)} | ${(m.gatewayCpuMs / l.requests).toFixed(2)} | ${((l.requests / m.gatewayCpuMs) * 1000).toFixed(0)} | ${(m.subgraphCpuMs / l.requests).toFixed(2)} | ${l.ok}/${l.requests} | ${m.gatewayRssMiB.toFixed(0)} |`;
    };
    const u = results.uncached;
    const s = results.stock;
    const c = results.cached;
    const w = results.cachedWrites;
    const ratio = (a: number, b: number) => (b ? (a / b).toFixed(2) : 'n/a');
    const cpuPerReq = (m: Measured) => m.gatewayCpuMs / m.load.requests;
    const perCpuS = (m: Measured) => `×${(cpuPerReq(s) / cpuPerReq(m)).toFixed(2)}`;
    console.log(`### Gateway: ours vs stock @apollo/gateway + @apollo/server

Query \`BenchTasksPage(first: ${PAGE})\`: tasks page with assignee (User|Agent) name, customer healthScore, createdBy,
comments with author names and agentRuns — 4 subgraphs, ${shape.tasks} tasks / ${shape.comments} comments /
${shape.agentRuns} agent runs per response (${(shape.bytes / 1024).toFixed(1)} KiB). Seeded through the gateway: ${data.tokens.length} users,
${data.customerIds.length} customers, ${data.taskIds.length} tasks. ${CLIENTS} closed-loop clients (separate process), each with
its own user's JWT, ${WARMUP_S} s warm-up then ${DURATION_S} s measured, per gateway, one after the other, on loopback.
Both gateways verify the JWT the same way and sign the principal for the subgraphs; the data of both answers was
checked identical before the run. CPU = user+sys of the gateway's process tree from /proc (10 ms ticks).
"ours, no response cache" is the execution path alone (plan cache, entity-fetch batching, in-flight dedup, lean
transport); "response cache" is the gateway as shipped: every client repeats its own query, so after the first
answer each is a hit until an event of its tenant invalidates it — the writer adds a comment ${WRITES_PER_S}×/s to random
tasks of the same organization, each one dropping every client's cached page.

| gateway | req/s | p50 ms | p95 ms | p99 ms | max ms | gateway CPU-ms/req | req per gateway CPU-s (vs stock) | subgraphs CPU-ms/req | ok/total | RSS MiB |
|---|---|---|---|---|---|---|---|---|---|---|
${row('ours, no response cache', u)}
${results.traced ? `${row('ours, no response cache, OpenTelemetry on (OTLP)', results.traced)}\n` : ''}${row('stock', s)}
${row('ours, response cache', c)}
${row(`ours, response cache + writer (${w.writesPerS.toFixed(1)} writes/s reached)`, w)}
${row(`ours, client answers cached only (RESPONSE_CACHE_SUBGRAPH=false) + writer (${results.clientOnlyWrites.writesPerS.toFixed(1)} writes/s)`, results.clientOnlyWrites)}

Ratios vs stock — no response cache: throughput ×${ratio(u.load.rps, s.load.rps)}, requests per gateway CPU-second ${perCpuS(u)},
p99 ×${ratio(u.load.latencyMs.p99, s.load.latencyMs.p99)}. Response cache: throughput ×${ratio(c.load.rps, s.load.rps)}, per gateway CPU-second ${perCpuS(c)},
p99 ×${ratio(c.load.latencyMs.p99, s.load.latencyMs.p99)}; with the writer: throughput ×${ratio(w.load.rps, s.load.rps)}, p99 ${w.load.latencyMs.p99.toFixed(1)} ms
(×${ratio(w.load.rps, results.clientOnlyWrites.load.rps)} of the same cache without subgraph answers, ×${ratio(w.load.rps, u.load.rps)} of no cache).
${results.traced && sink ? `Tracing on (OTLP/HTTP to a local sink: ${sink.requests} exports, ${(sink.bytes / 1048576).toFixed(1)} MiB; the subgraphs stay untraced) costs the gateway ${(cpuPerReq(results.traced) - cpuPerReq(u)).toFixed(2)} CPU-ms/request (×${ratio(cpuPerReq(results.traced), cpuPerReq(u))}); off, no SDK is registered and no tracing plugin installed.\n` : ''}Targets (issue 7): ≥ 3× stock throughput at equal CPU; p99 < 100 ms at ${CLIENTS} clients. Machine: ${availableParallelism()} cores shared by
the load generator, the gateways (one busy at a time), 4 subgraphs, Postgres, NATS and Redis.
`);
    for (const [name, m] of Object.entries(results)) {
      if (m?.load.failed) console.log(`Failures (${name}): ${m.load.failed} (${m.load.firstFailure ?? '-'})\n`);
    }
  } finally {
    await sink?.close();
    for (const child of [stock, ...spawned]) {
      if (!child || child.exitCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await ts.stop();
  }
  if (PROFILE) {
    const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    console.log(summarizeProfile(files.map((f) => path.join(profDir, f))));
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
