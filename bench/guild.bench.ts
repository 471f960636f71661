/**
 * The Guild's public gateway benchmark workload (graphql-hive/graphql-gateways-benchmark: subgraphs accounts,
 * inventory, products and reviews, the nested `TestQuery`, an 87,599-byte answer) run against OUR gateway (once per
 * executor when GATEWAY_EXECUTOR is honoured), stock @apollo/gateway + @apollo/server and Hive Gateway with the Rust
 * query planner (@graphql-hive/router-runtime), one after the other, in the same run, with the same load.
 *
 * - Subgraphs: ours in TypeScript (bench/guild/subgraphs.ts) over the suite's SDL and data (bench/guild/fixtures/),
 *   composed with @apollo/composition; one process pinned to GUILD_SUBGRAPH_CPUS (core 0).
 * - Gateways: one at a time, pinned to GUILD_GATEWAY_CPUS (core 1), same V8 flags for all three (the semi-space size,
 *   and what our launchers add for the pinned CPUs: `--no-concurrent-marking` on one). Ours:
 *   response cache off, and a distinct principal per request (JWTs of GUILD_PRINCIPALS users from a local JWKS, sent
 *   in turn), so its in-flight de-duplication cannot share subgraph calls between clients (the bench reads
 *   `inflight_joined` from its /metrics to show it). Hive: inbound and upstream de-duplication off (see
 *   bench/guild/hive-gateway.config.ts). Stock: as the suite runs it, no de-duplication to turn off.
 * - Load: `wrk` (Debian's; bench/lib/load.ts when missing), BENCH_CLIENTS connections (50, as the suite's k6 constant
 *   mode), pinned to GUILD_LOAD_CPUS (core 0, beside the subgraphs), BENCH_WARMUP_S then BENCH_DURATION_S measured.
 * - Before measuring, and again after, each gateway's answer must equal the suite's expected answer (k6.js's
 *   `expectedStructure`): same byte length and deep equality. A gateway that answers anything else is not measured.
 * - CPU: user+system of each process tree from /proc (bench/lib/proc.ts), over the measured window.
 *
 * Prints a markdown table with req/s, p50/p95/p99, gateway CPU-ms/request, ratios vs stock and vs Hive, and issue 12's
 * targets as met / not met (never asserted). Knobs: GUILD_ROUNDS (1; e.g. 3: every gateway once per round, the order
 * rotated, then medians and same-round ratios — what a claim should rest on, this VM's speed drifting over minutes),
 * BENCH_DURATION_S (20), BENCH_WARMUP_S (5), BENCH_CLIENTS (50),
 * GUILD_PRINCIPALS (1000), GUILD_EXECUTORS (e.g. `apollo,native`; default: both when gateway/src reads
 * GATEWAY_EXECUTOR, else the current one), GUILD_GATEWAYS (subset of `ours,stock,hive`), GUILD_DEDUP_ROWS=1 (also ours
 * anonymous with in-flight de-duplication on, and Hive as the suite configures it: both de-duplications on),
 * GUILD_SUBGRAPH_MEMO=0 (subgraphs execute every request instead of reusing the answer to an identical body),
 * GUILD_LOAD=load.ts (the Node load generator even when wrk is installed), GUILD_*_CPUS ('' = no pinning),
 * BENCH_PROFILE=1 (V8 CPU profile of each of our gateways over its measured window only, summarised by area and
 * function after the table: bench/lib/profile.ts), BENCH_PROFILE=heap (the same window's allocations, freed objects
 * included: what makes the scavenger run; BENCH_PROFILE=heap-survivors: only what outlived a scavenge, i.e. what it
 * copies and promotes), GUILD_GATEWAY_NODE_FLAGS (Node/V8 flags on every gateway's command line
 * instead of the launchers' ones, e.g. `--single-threaded-gc --max-semi-space-size=128`, or empty for none; NODE_OPTIONS
 * refuses some of them), GUILD_GATEWAY_STDOUT=1
 * (our gateway's stdout on the bench's: what `--trace-gc` or `--trace-gc-nvp` there print).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { connectBus } from '@cos/bus';
import { createLogger } from '@cos/logger';
import { freePort } from '../e2e/support/test-stack';
import { startIssuer, type TestIssuer } from '../gateway/test/fixtures';
import { gatewayV8Flags, nodeOptionsFor } from '../scripts/lib/paths';
import { loadGuildFixtures, type GuildSubgraph } from './guild/data';
import { composeGuildSupergraph } from './guild/supergraph';
import type { LoadConfig, LoadResult } from './lib/load';
import { summarizeHeapProfile, summarizeProfile } from './lib/profile';
import { treeCpuMs, treePids, treeRssMiB } from './lib/proc';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const tsx = path.join(root, 'node_modules/.bin/tsx');
const num = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const DURATION_S = num('BENCH_DURATION_S', 20);
const WARMUP_S = num('BENCH_WARMUP_S', 5);
const CLIENTS = num('BENCH_CLIENTS', 50);
const PRINCIPALS = num('GUILD_PRINCIPALS', 1000);
const DEDUP_ROWS = process.env.GUILD_DEDUP_ROWS === '1';
const PROFILE = process.env.BENCH_PROFILE === '1' || process.env.BENCH_PROFILE === 'heap' || process.env.BENCH_PROFILE === 'heap-survivors';
const HEAP_PROFILE = process.env.BENCH_PROFILE === 'heap' || process.env.BENCH_PROFILE === 'heap-survivors';
const MEMO = process.env.GUILD_SUBGRAPH_MEMO !== '0';
const ROUNDS = Math.max(1, num('GUILD_ROUNDS', 1));
const GATEWAYS = new Set((process.env.GUILD_GATEWAYS ?? 'ours,stock,hive').split(',').map((s) => s.trim()));
const TARGETS = { vsStock: 4, vsHive: 1.5, cpuMsPerRequest: 5, p99Ms: 250, clients: 50 } as const;

const log = (m: string) => console.error(`[guild.bench] ${m}`);

function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// Pinning: subgraphs and load generator on one core, the gateway alone on the other (the suite pins k6 and the
// gateway the same way); no pinning on a single core or without taskset.
const canPin = hasCommand('taskset') && availableParallelism() >= 2;
const cpuSet = (k: string, d: string) => (canPin ? (process.env[k] ?? d) : '');
const SUBGRAPH_CPUS = cpuSet('GUILD_SUBGRAPH_CPUS', '0');
const GATEWAY_CPUS = cpuSet('GUILD_GATEWAY_CPUS', '1');
const LOAD_CPUS = cpuSet('GUILD_LOAD_CPUS', '0');
/** CPUs in a taskset list ("1", "0-1", "0,2-3"); none: every CPU the bench may use. */
const cpusIn = (list: string): number =>
  list ? list.split(',').reduce((n, part) => { const [a, b] = part.split('-').map(Number); return n + (b === undefined ? 1 : b - a! + 1); }, 0) : availableParallelism();
/**
 * Node/V8 flags for every gateway's command line (flags NODE_OPTIONS refuses, e.g. `--single-threaded-gc`). Unset:
 * what our launchers give a gateway with the CPUs it is pinned to (scripts/lib/paths.ts gatewayV8Flags: on one core,
 * `--no-concurrent-marking`), given to all three gateways alike. `GUILD_GATEWAY_NODE_FLAGS=` (empty): none.
 */
const GATEWAY_NODE_FLAGS = (process.env.GUILD_GATEWAY_NODE_FLAGS ?? gatewayV8Flags(cpusIn(GATEWAY_CPUS)).join(' ')).split(/\s+/).filter(Boolean);
const WRK = process.env.GUILD_LOAD !== 'load.ts' && hasCommand('wrk');

function pinned(cpus: string, cmd: string, args: string[]): [string, string[]] {
  return cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];
}

/** Which executors of ours to run: both when the gateway reads GATEWAY_EXECUTOR (issue 12), else the current one. */
function ourExecutors(): string[] {
  if (process.env.GUILD_EXECUTORS) return process.env.GUILD_EXECUTORS.split(',').map((s) => s.trim()).filter(Boolean);
  try {
    execFileSync('grep', ['-rqs', 'GATEWAY_EXECUTOR', path.join(root, 'gateway/src')]);
    return ['apollo', 'native'];
  } catch {
    return ['current'];
  }
}

async function stopChild(child: ChildProcess | undefined) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

async function waitUp(url: string, child: ChildProcess, what: string, ms = 90_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    try {
      const r = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ query: '{ __typename }' }),
        signal: AbortSignal.timeout(2_000),
      });
      if (r.status === 200) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${what} did not come up`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Compares a gateway's TestQuery answer with the suite's: byte length (a trailing newline aside) and deep equality. */
async function verifyAnswer(url: string, body: string, token: string | undefined, expectedText: string, expected: unknown): Promise<string | null> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body,
    signal: AbortSignal.timeout(30_000),
  });
  const text = (await res.text()).trimEnd();
  if (res.status !== 200) return `HTTP ${res.status}: ${text.slice(0, 300)}`;
  const bytes = Buffer.byteLength(text);
  const want = Buffer.byteLength(expectedText);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return `not JSON: ${text.slice(0, 300)}`;
  }
  if (!isDeepStrictEqual(parsed, expected)) return `answer differs from the suite's expected answer (${bytes} bytes vs ${want}): ${text.slice(0, 300)}`;
  if (bytes !== want) return `answer is ${bytes} bytes, the suite's is ${want}`;
  return null;
}

interface LoadRun {
  requests: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Non-2xx answers and socket errors (wrk), or responses that were not `{"data":…}` without errors (load.ts). */
  failed: number;
  bytesPerResponse: number;
}

function runWrk(url: string, bodyFile: string, tokensFile: string, seconds: number): Promise<LoadRun> {
  return new Promise((resolve, reject) => {
    const [cmd, args] = pinned(LOAD_CPUS, 'wrk', ['-t1', `-c${CLIENTS}`, `-d${seconds}s`, '--timeout', '30s', '-s', path.join(here, 'guild/wrk.lua'), url]);
    const child = spawn(cmd, args, {
      env: { ...process.env, GUILD_WRK_BODY_FILE: bodyFile, GUILD_WRK_TOKENS_FILE: tokensFile },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('GUILD_WRK_RESULT '));
      if (code !== 0 || !line) return reject(new Error(`wrk exited ${code}: ${out.slice(-500)}`));
      const r = JSON.parse(line.slice('GUILD_WRK_RESULT '.length)) as Record<string, number>;
      const n = r.requests!;
      resolve({
        requests: n,
        rps: n / (r.durationUs! / 1e6),
        p50: r.p50! / 1000,
        p95: r.p95! / 1000,
        p99: r.p99! / 1000,
        max: r.max! / 1000,
        failed: r.status! + r.connect! + r.read! + r.write! + r.timeout!,
        bytesPerResponse: n ? r.bytes! / n : 0,
      });
    });
  });
}

function runNodeLoad(url: string, query: string, tokens: string[], seconds: number): Promise<LoadRun> {
  const cfg: LoadConfig = { url, query, tokens, clients: CLIENTS, durationMs: seconds * 1000 };
  return new Promise((resolve, reject) => {
    const [cmd, args] = pinned(LOAD_CPUS, tsx, [path.join(here, 'lib/load.ts'), JSON.stringify(cfg)]);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`load exited ${code}`));
      const r = JSON.parse(out.trim().split('\n').pop()!) as LoadResult;
      resolve({ requests: r.requests, rps: r.rps, ...r.latencyMs, failed: r.failed, bytesPerResponse: r.bytesPerResponse });
    });
  });
}

/** Sum of a counter's samples with the given label in a Prometheus text exposition (0 when absent). */
async function scrapeCounter(metricsUrl: string, name: string, label: string): Promise<number | null> {
  try {
    const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(5_000) })).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
    return line ? Number(line.split(' ').pop()) : 0;
  } catch {
    return null;
  }
}

interface Row {
  name: string;
  /** 0-based round (GUILD_ROUNDS): every gateway runs once per round, in a rotated order. */
  round: number;
  kind: 'ours' | 'stock' | 'hive';
  /** Same conditions as the targets: ours with a distinct principal per request, Hive without de-duplication. */
  primary: boolean;
  error?: string;
  load?: LoadRun;
  gatewayCpuMs?: number;
  subgraphCpuMs?: number;
  subgraphRequests?: number;
  subgraphRequestsPerAnswer?: number;
  rssMiB?: number;
  inflightJoined?: number | null;
}

interface GatewaySpec {
  name: string;
  kind: Row['kind'];
  primary: boolean;
  /** Send the per-request JWTs (ours); the others get the same requests without them. */
  tokens: boolean;
  start(port: number): ChildProcess;
  path: string;
  metrics?: boolean;
}

async function main() {
  const fixtures = loadGuildFixtures();
  const work = mkdtempSync(path.join(tmpdir(), 'guild-bench-'));
  const expectedBytes = Buffer.byteLength(fixtures.expectedText);
  const requestBody = JSON.stringify({ query: fixtures.query, operationName: 'TestQuery' });
  const bodyFile = path.join(work, 'body.json');
  writeFileSync(bodyFile, requestBody);
  const prefix = `gb${randomBytes(4).toString('hex')}`;
  let subgraphs: ChildProcess | undefined;
  let issuer: TestIssuer | undefined;
  let current: ChildProcess | undefined;
  /** Profile directories of our gateways by name (BENCH_PROFILE=1). */
  const profiles = new Map<string, string>();
  const rows: Row[] = [];
  try {
    // Subgraphs first, on their core.
    const [scmd, sargs] = pinned(SUBGRAPH_CPUS, tsx, [path.join(here, 'guild/subgraphs.ts'), '0']);
    subgraphs = spawn(scmd, sargs, {
      env: { ...process.env, NODE_OPTIONS: nodeOptionsFor('subgraph'), GUILD_SUBGRAPH_MEMO: MEMO ? '1' : '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const subgraphUrl = await new Promise<string>((resolve, reject) => {
      let out = '';
      subgraphs!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve((JSON.parse(line) as { url: string }).url);
      });
      subgraphs!.once('exit', (code) => reject(new Error(`subgraphs exited with ${code}`)));
    });
    const urls = Object.fromEntries(['accounts', 'inventory', 'products', 'reviews'].map((s) => [s, `${subgraphUrl}/${s}`])) as Record<GuildSubgraph, string>;
    const supergraphFile = path.join(work, 'supergraph.graphql');
    writeFileSync(supergraphFile, composeGuildSupergraph(urls));
    const subgraphRequests = async () => Object.values((await (await fetch(`${subgraphUrl}/stats`)).json()) as Record<string, number>).reduce((a, b) => a + b, 0);

    // Distinct principals for ours: users of one organisation, tokens from a JWKS of our own.
    issuer = await startIssuer();
    const org = randomUUID();
    const tokens = await Promise.all(Array.from({ length: PRINCIPALS }, () => issuer!.sign({ sub: randomUUID(), org, role: 'MEMBER' }, { expiresIn: '2h' })));
    const tokensFile = path.join(work, 'tokens.txt');
    writeFileSync(tokensFile, `${tokens.join('\n')}\n`);
    const emptyTokensFile = path.join(work, 'no-tokens.txt');
    writeFileSync(emptyTokensFile, '');

    const gatewayNodeOptions = nodeOptionsFor('gateway', process.env.NODE_OPTIONS);
    // BENCH_PROFILE=1: our gateways load the windowed profiler (SIGUSR2 starts it, the next stops it and writes it);
    // the .cpuprofile files are kept (outside the work directory) for a closer look.
    const profilerOptions = (name: string): NodeJS.ProcessEnv => {
      if (!PROFILE) return {};
      const dir = mkdtempSync(path.join(tmpdir(), 'guild-prof-'));
      profiles.set(name, dir);
      return { NODE_OPTIONS: nodeOptionsFor('gateway', `--import ${path.join(here, 'lib/cpu-prof-window.mjs')}`), COS_CPU_PROF_DIR: dir, COS_PROF_KIND: HEAP_PROFILE ? (process.env.BENCH_PROFILE as string) : 'cpu' };
    };
    const oursName = (executor: string, anonymous: boolean) =>
      `ours${executor === 'current' ? '' : ` (GATEWAY_EXECUTOR=${executor})`}${anonymous ? ', anonymous, in-flight dedup on' : ''}`;
    const ours = (executor: string, anonymous: boolean): GatewaySpec => ({
      name: oursName(executor, anonymous),
      kind: 'ours',
      primary: !anonymous,
      tokens: !anonymous,
      path: '/graphql',
      metrics: true,
      start: (port) => {
        const [cmd, args] = pinned(GATEWAY_CPUS, tsx, [...GATEWAY_NODE_FLAGS, path.join(root, 'gateway/src/index.ts')]);
        return spawn(cmd, args, {
          env: {
            ...process.env,
            NODE_ENV: 'production',
            LOG_LEVEL: 'warn',
            HOST: '127.0.0.1',
            PORT: String(port),
            SUPERGRAPH: supergraphFile,
            INTERNAL_SECRET: randomBytes(32).toString('hex'),
            JWKS_URL: issuer!.jwksUrl,
            RESPONSE_CACHE: 'false',
            // Rate limiting stays in the request path (one Redis call per request) but must not refuse the load.
            RATE_LIMIT_PER_USER: '1000000000',
            RATE_LIMIT_PER_IP: '1000000000',
            NATS_URL: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
            REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
            COS_SUBJECT_PREFIX: prefix,
            REDIS_PREFIX: `${prefix}:`,
            NODE_OPTIONS: gatewayNodeOptions,
            ...(executor === 'current' ? {} : { GATEWAY_EXECUTOR: executor }),
            ...(anonymous || profiles.has(oursName(executor, false)) ? {} : profilerOptions(oursName(executor, false))),
          },
          stdio: ['ignore', process.env.GUILD_GATEWAY_STDOUT === '1' ? 'inherit' : 'ignore', 'inherit'],
        });
      },
    });
    const stock: GatewaySpec = {
      name: 'stock @apollo/gateway + @apollo/server',
      kind: 'stock',
      primary: true,
      tokens: false,
      path: '/',
      start: (port) => {
        const [cmd, args] = pinned(GATEWAY_CPUS, tsx, [...GATEWAY_NODE_FLAGS, path.join(here, 'lib/stock-gateway.ts')]);
        const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production', PORT: String(port), SUPERGRAPH: supergraphFile, NODE_OPTIONS: gatewayNodeOptions };
        delete env.INTERNAL_SECRET;
        delete env.JWKS_URL;
        return spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
      },
    };
    const hive = (dedup: boolean): GatewaySpec => ({
      name: `Hive Gateway + router-runtime (Rust planner)${dedup ? ', as the suite configures it (in-flight dedup on)' : ''}`,
      kind: 'hive',
      primary: !dedup,
      tokens: false,
      path: '/graphql',
      start: (port) => {
        const bin = path.join(root, 'node_modules/@graphql-hive/gateway/dist/bin.js');
        const hiveArgs = [bin, 'supergraph', supergraphFile, '-c', path.join(here, 'guild/hive-gateway.config.ts'), '-p', String(port), '-h', '127.0.0.1', '--fork', '1'];
        const [cmd, args] = pinned(GATEWAY_CPUS, process.execPath, [...GATEWAY_NODE_FLAGS, ...hiveArgs]);
        return spawn(cmd, args, {
          env: {
            ...process.env,
            NODE_ENV: 'production',
            NODE_OPTIONS: gatewayNodeOptions,
            HIVE_INBOUND_DEDUP: dedup ? '1' : '0',
            HIVE_UPSTREAM_DEDUP: dedup ? '1' : '0',
          },
          stdio: ['ignore', 'ignore', 'inherit'],
        });
      },
    });

    const specs: GatewaySpec[] = [];
    if (GATEWAYS.has('ours')) for (const e of ourExecutors()) specs.push(ours(e, false));
    if (GATEWAYS.has('stock')) specs.push(stock);
    if (GATEWAYS.has('hive')) specs.push(hive(false));
    if (DEDUP_ROWS) {
      if (GATEWAYS.has('ours')) for (const e of ourExecutors()) specs.push(ours(e, true));
      if (GATEWAYS.has('hive')) specs.push(hive(true));
    }

    log(`load: ${WRK ? 'wrk' : 'bench/lib/load.ts'}, ${CLIENTS} clients, ${WARMUP_S}s warm-up + ${DURATION_S}s; pinning: ${canPin ? `subgraphs ${SUBGRAPH_CPUS}, gateway ${GATEWAY_CPUS}, load ${LOAD_CPUS}` : 'none'}`);
    // Rounds: every gateway once per round, the order rotated so that none always runs first or last (this VM's speed
    // drifts over minutes); the report gives each round and, over several, the medians and per-round ratios.
    const runs = Array.from({ length: ROUNDS }, (_, round) => [...specs.slice(round % specs.length), ...specs.slice(0, round % specs.length)].map((spec) => ({ spec, round }))).flat();
    for (const { spec, round } of runs) {
      const row: Row = { name: spec.name, round, kind: spec.kind, primary: spec.primary };
      rows.push(row);
      if (ROUNDS > 1) log(`round ${round + 1}/${ROUNDS}`);
      const port = await freePort();
      const url = `http://127.0.0.1:${port}${spec.path}`;
      log(`${spec.name}: starting`);
      current = spec.start(port);
      try {
        await waitUp(url, current, spec.name);
        const token = spec.tokens ? tokens[0] : undefined;
        // Once alone, to count the subgraph requests one answer takes (exact: nothing else is running).
        const single0 = await subgraphRequests();
        const wrong = await verifyAnswer(url, requestBody, token, fixtures.expectedText, fixtures.expected);
        if (wrong) throw new Error(`wrong answer before measuring: ${wrong}`);
        row.subgraphRequestsPerAnswer = (await subgraphRequests()) - single0;
        const load = (seconds: number) =>
          WRK ? runWrk(url, bodyFile, spec.tokens ? tokensFile : emptyTokensFile, seconds) : runNodeLoad(url, fixtures.query, spec.tokens ? tokens : [], seconds);
        log(`${spec.name}: answer verified (${expectedBytes} bytes); warm-up ${WARMUP_S}s`);
        await load(WARMUP_S);
        // wrk drops its connections at the end of the warm-up, but the gateway still works through the requests that
        // were in flight: let it finish them so their CPU does not land in the measured window.
        await waitIdle(current.pid!);
        const metricsUrl = `http://127.0.0.1:${port}/metrics`;
        const joined0 = spec.metrics ? await scrapeCounter(metricsUrl, 'cos_subgraph_transport_total', 'kind="inflight_joined"') : null;
        const gw0 = treeCpuMs(current.pid!);
        const sub0 = treeCpuMs(subgraphs.pid!);
        const req0 = await subgraphRequests();
        log(`${spec.name}: measuring ${DURATION_S}s`);
        // Every process of the tree (tsx's wrapper too) toggles its own profiler; the wrapper's is nearly idle.
        const profiled = spec.kind === 'ours' && PROFILE ? treePids(current.pid!) : [];
        for (const pid of profiled) process.kill(pid, 'SIGUSR2');
        row.load = await load(DURATION_S);
        for (const pid of profiled) process.kill(pid, 'SIGUSR2');
        row.gatewayCpuMs = treeCpuMs(current.pid!) - gw0;
        row.subgraphCpuMs = treeCpuMs(subgraphs.pid!) - sub0;
        row.subgraphRequests = (await subgraphRequests()) - req0;
        row.rssMiB = treeRssMiB(current.pid!);
        const joined1 = spec.metrics ? await scrapeCounter(metricsUrl, 'cos_subgraph_transport_total', 'kind="inflight_joined"') : null;
        row.inflightJoined = joined0 !== null && joined1 !== null ? joined1 - joined0 : null;
        const after = await verifyAnswer(url, requestBody, token, fixtures.expectedText, fixtures.expected);
        if (after) throw new Error(`wrong answer after measuring: ${after}`);
        if (row.load.bytesPerResponse < expectedBytes) row.error = `responses averaged ${row.load.bytesPerResponse.toFixed(0)} bytes, fewer than the answer's ${expectedBytes}`;
        log(`${spec.name}: ${row.load.rps.toFixed(1)} req/s, p99 ${row.load.p99.toFixed(1)} ms, ${(row.gatewayCpuMs / row.load.requests).toFixed(2)} CPU-ms/req`);
      } catch (err) {
        row.error = (err as Error).message;
        log(`${spec.name}: ${row.error}`);
      } finally {
        await stopChild(current);
        current = undefined;
      }
    }
  } finally {
    await stopChild(current);
    await stopChild(subgraphs);
    await issuer?.close();
    for (const [name, dir] of profiles) {
      const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
      if (files.length > 0) console.log(`#### ${name} (profiles kept in ${dir}: open them in Chrome DevTools)\n\n${summarizeProfile(files.map((f) => path.join(dir, f)), 25)}`);
      const heap = readdirSync(dir).filter((f) => f.endsWith('.heapprofile'));
      const requests = rows.find((r) => r.name === name && r.round === 0)?.load?.requests ?? 0;
      if (heap.length > 0) console.log(`#### ${name} (profiles kept in ${dir}: Chrome DevTools, Memory)\n\n${summarizeHeapProfile(heap.map((f) => path.join(dir, f)), requests, 25, process.env.BENCH_PROFILE === 'heap-survivors' ? 'only objects that outlived a scavenge' : undefined)}`);
    }
    rmSync(work, { recursive: true, force: true });
    await dropStreams(prefix);
  }
  for (let round = 0; round < ROUNDS; round++) {
    if (ROUNDS > 1) console.log(`#### Round ${round + 1} of ${ROUNDS}\n`);
    console.log(report(rows.filter((r) => r.round === round), fixtures.source.commit, expectedBytes, round === 0));
  }
  if (ROUNDS > 1) console.log(summary(rows));
  if (rows.some((r) => r.error)) process.exitCode = 1;
}

/** Waits until the process tree uses less than ~4% of a core (at most 20 s). */
async function waitIdle(pid: number) {
  const deadline = Date.now() + 20_000;
  let last = treeCpuMs(pid);
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    const now = treeCpuMs(pid);
    if (now - last <= 10) return;
    last = now;
  }
}

/** Our gateway created its JetStream streams under the bench's own prefix: remove them. */
async function dropStreams(prefix: string) {
  try {
    const bus = await connectBus({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', subjectPrefix: prefix, name: 'guild-bench-cleanup', log: createLogger('guild-bench', 'error') });
    for (const s of [bus.streamName, bus.dlqStreamName]) await bus.jsm.streams.delete(s).catch(() => false);
    await bus.close();
  } catch {
    /* NATS not there: nothing was created */
  }
}

function report(rows: Row[], commit: string, expectedBytes: number, withPreamble: boolean): string {
  const measured = rows.filter((r) => r.load && !r.error);
  const stock = measured.find((r) => r.kind === 'stock');
  const hive = measured.find((r) => r.kind === 'hive' && r.primary);
  const cpu = (r: Row) => r.gatewayCpuMs! / r.load!.requests;
  const ratio = (r: Row, base: Row | undefined) => (base ? `×${(r.load!.rps / base.load!.rps).toFixed(2)}` : 'n/a');
  const perCpu = (r: Row, base: Row | undefined) => (base ? `×${(cpu(base) / cpu(r)).toFixed(2)}` : 'n/a');
  const lines = rows.map((r) => {
    if (!r.load || r.error) return `| ${r.name} | ${r.error ? `**not measured: ${r.error.replace(/\|/g, '\\|').slice(0, 200)}**` : 'not run'} |||||||||||`;
    const l = r.load;
    const perReq = String(r.subgraphRequestsPerAnswer ?? '?');
    return `| ${r.name} | ${l.rps.toFixed(1)} | ${l.p50.toFixed(1)} | ${l.p95.toFixed(1)} | ${l.p99.toFixed(1)} | ${cpu(r).toFixed(2)} | ${ratio(r, stock)} | ${ratio(r, hive)} | ${perCpu(r, stock)} | ${perReq} | ${(r.subgraphCpuMs! / l.requests).toFixed(2)} | ${l.failed}/${l.requests} | ${r.rssMiB!.toFixed(0)} |`;
  });
  const targetLines = measured
    .filter((r) => r.kind === 'ours' && r.primary)
    .map((r) => {
      const l = r.load!;
      const mark = (ok: boolean) => (ok ? 'met' : '**not met**');
      const vsStock = stock ? l.rps / stock.load!.rps : NaN;
      const vsHive = hive ? l.rps / hive.load!.rps : NaN;
      return `- ${r.name}: ≥ ${TARGETS.vsStock}× stock throughput — ×${vsStock.toFixed(2)} ${stock ? mark(vsStock >= TARGETS.vsStock) : '(stock not measured)'}; ≥ ${TARGETS.vsHive}× Hive — ×${vsHive.toFixed(2)} ${hive ? mark(vsHive >= TARGETS.vsHive) : '(Hive not measured)'}; ≤ ${TARGETS.cpuMsPerRequest} gateway CPU-ms/request — ${cpu(r).toFixed(2)} ${mark(cpu(r) <= TARGETS.cpuMsPerRequest)}; p99 < ${TARGETS.p99Ms} ms at ${TARGETS.clients} clients — ${l.p99.toFixed(1)} ms ${CLIENTS === TARGETS.clients ? mark(l.p99 < TARGETS.p99Ms) : `(run at ${CLIENTS} clients: not comparable)`}${r.inflightJoined ? ` — ${r.inflightJoined} subgraph calls joined one in flight (de-duplication was NOT off)` : ''}`;
    });
  const cores = cpus();
  const table = `| gateway | req/s | p50 ms | p95 ms | p99 ms | gateway CPU-ms/req | throughput vs stock | vs Hive | req per gateway CPU-s vs stock | subgraph requests per answer | subgraphs CPU-ms/req | failed/total | RSS MiB |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
${lines.join('\n')}

Targets (issue 12; same run, printed, never asserted):
${targetLines.length ? targetLines.join('\n') : '- our gateway was not measured'}
`;
  if (!withPreamble) return table;
  return `### The Guild's gateway benchmark workload (graphql-hive/graphql-gateways-benchmark @ ${commit.slice(0, 7)})

\`TestQuery\` (users → reviews → product → reviews → author → reviews → product, and topProducts → reviews → author →
reviews → product) over the suite's 4 subgraphs (accounts, inventory, products, reviews; ours in TypeScript over the
suite's SDL and data${MEMO ? ', answers to identical bodies reused' : ', every request executed'}), ${expectedBytes} bytes per answer, checked equal to
the suite's expected answer (byte length + deep equality) before and after each gateway's run. ${CLIENTS} connections
(${WRK ? 'wrk' : 'bench/lib/load.ts'}), ${WARMUP_S} s warm-up then ${DURATION_S} s measured, one gateway at a time. Pinning:
${canPin ? `gateway on CPU ${GATEWAY_CPUS}; subgraphs on ${SUBGRAPH_CPUS} and the load generator on ${LOAD_CPUS}` : 'none (taskset missing or a single core)'}.
Every gateway's node flags: ${[...GATEWAY_NODE_FLAGS, `NODE_OPTIONS=${nodeOptionsFor('gateway', process.env.NODE_OPTIONS)}`].join(' ')}.
Ours: response cache off, a distinct principal per request (JWTs of ${PRINCIPALS} users, sent in turn), so in-flight de-duplication
shares nothing between clients; Hive: inbound and upstream de-duplication off. Gateway CPU = user+system of the gateway's
process tree (/proc) over the measured window. Machine: ${cores.length} × ${cores[0]?.model ?? '?'}, node ${process.version}.${
    ROUNDS > 1 ? ` ${ROUNDS} rounds, the gateways' order rotated each round.` : ''
  }

${table}`;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Several rounds: per gateway the median req/s, p99 and CPU-ms over its rounds, and its throughput ratios to stock and
 * Hive taken within each round (same minutes of the machine) then their median; each target with how many rounds met it.
 */
function summary(rows: Row[]): string {
  const ok = rows.filter((r) => r.load && !r.error);
  const names = [...new Set(rows.map((r) => r.name))];
  const cpu = (r: Row) => r.gatewayCpuMs! / r.load!.requests;
  const sameRound = (r: Row, kind: Row['kind']) => ok.find((o) => o.round === r.round && o.kind === kind && o.primary);
  const ratios = (mine: Row[], kind: Row['kind']) =>
    mine.flatMap((r) => {
      const base = sameRound(r, kind);
      return base ? [r.load!.rps / base.load!.rps] : [];
    });
  const fmt = (xs: number[], digits: number, prefix = '') => (xs.length ? `${prefix}${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})` : 'n/a');
  const lines = names.map((name) => {
    const mine = ok.filter((r) => r.name === name);
    if (mine.length === 0) return `| ${name} | 0 | not measured |||||`;
    return `| ${name} | ${mine.length} | ${fmt(mine.map((r) => r.load!.rps), 1)} | ${fmt(mine.map((r) => r.load!.p99), 0)} | ${fmt(mine.map(cpu), 2)} | ${fmt(ratios(mine, 'stock'), 2, '×')} | ${fmt(ratios(mine, 'hive'), 2, '×')} |`;
  });
  const targets = names
    .filter((name) => ok.some((r) => r.name === name && r.kind === 'ours' && r.primary))
    .map((name) => {
      const mine = ok.filter((r) => r.name === name);
      const vsStock = ratios(mine, 'stock');
      const vsHive = ratios(mine, 'hive');
      const count = (xs: number[], pass: (x: number) => boolean) => `${xs.filter(pass).length} of ${xs.length} rounds`;
      const mark = (xs: number[], pass: (x: number) => boolean) => (xs.length && pass(median(xs)) ? 'met' : '**not met**');
      const cpus = mine.map(cpu);
      const p99s = mine.map((r) => r.load!.p99);
      return `- ${name}, medians: ≥ ${TARGETS.vsStock}× stock ${mark(vsStock, (x) => x >= TARGETS.vsStock)} (${count(vsStock, (x) => x >= TARGETS.vsStock)}); ≥ ${TARGETS.vsHive}× Hive ${mark(vsHive, (x) => x >= TARGETS.vsHive)} (${count(vsHive, (x) => x >= TARGETS.vsHive)}); ≤ ${TARGETS.cpuMsPerRequest} CPU-ms ${mark(cpus, (x) => x <= TARGETS.cpuMsPerRequest)} (${count(cpus, (x) => x <= TARGETS.cpuMsPerRequest)}); p99 < ${TARGETS.p99Ms} ms ${mark(p99s, (x) => x < TARGETS.p99Ms)} (${count(p99s, (x) => x < TARGETS.p99Ms)})`;
    });
  return `#### Over ${ROUNDS} rounds: median (min–max)

| gateway | rounds | req/s | p99 ms | gateway CPU-ms/req | throughput vs stock (same round) | vs Hive (same round) |
|---|---|---|---|---|---|---|
${lines.join('\n')}

Targets on the medians (issue 12; printed, never asserted):
${targets.length ? targets.join('\n') : '- our gateway was not measured'}
`;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
