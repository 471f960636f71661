/**
 * What the soak and chaos benches share: a stack on private servers with seeded data and partner keys, the
 * mixed-load child processes, resource sampling (CPU and RSS per process, Postgres connections, NATS consumer lag)
 * and the latency / error report against the SLOs.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { connectBus, type Bus } from '@cos/bus';
import { createLogger } from '@cos/logger';
import { manifestFromBodies } from '@cos/persisted';
import { gqlOk } from '../../scripts/lib/graphql-client';
import type { TestStack } from '../../e2e/support/test-stack';
import type { BenchData } from './seed-data';
import type { MixConfig, MixPartner, MixResult } from './mixed-load';
import { treeCpuMs, treeRssMiB } from './proc';

const here = path.dirname(fileURLToPath(import.meta.url));
const tsx = path.join(here, '../../node_modules/.bin/tsx');

export const SLO = { p95Ms: 500, p99Ms: 2_000, errorRate: 0.001 } as const;
export const BENCH_PASSWORD = 'bench-password-1';
/** The emails seed-data.ts gives its users (owner first). */
export const benchEmails = (n: number) => ['owner@bench.test', ...Array.from({ length: n - 1 }, (_, i) => `member${i + 1}@bench.test`)];

/** Outcomes that are correct answers, not failures: a stale optimistic-lock version is the client's to resolve. */
export const NOT_ERRORS = new Set(['ok', 'CONFLICT']);
/**
 * What a client may retry after a fault: SERVICE_UNAVAILABLE, RATE_LIMITED, HTTP 502/503/504, socket errors, timeouts, and
 * UNAVAILABLE = the gateway's INTERNAL_SERVER_ERROR "The <subgraph> service is unavailable / did not answer in time".
 */
export const RETRYABLE = new Set(['SERVICE_UNAVAILABLE', 'UNAVAILABLE', 'TIMEOUT', 'RATE_LIMITED', 'HTTP_502', 'HTTP_503', 'HTTP_504', 'ECONNRESET', 'ECONNREFUSED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'EPIPE', 'SocketError']);

const PARTNER_OPS = [
  'query SoakPartnerTasks { tasks(first: 10) { totalCount edges { node { id title status priority } } } }',
  'query SoakPartnerCustomers { customers(first: 10) { edges { node { id name churnRisk healthScore { score grade } } } } }',
];

/** Partner API keys (tasks:read, customers:read), each with its trusted documents published for its client name. */
export async function createPartners(gw: string, ownerToken: string, n: number): Promise<MixPartner[]> {
  const manifest = manifestFromBodies(PARTNER_OPS);
  const partners: MixPartner[] = [];
  for (let i = 0; i < n; i++) {
    const name = `soak-partner-${i + 1}`;
    const k = await gqlOk<{ createApiKey: { secret: string } }>(gw, `mutation($n: String!) { createApiKey(name: $n, scopes: ["tasks:read", "customers:read"]) { secret } }`, { n: name }, { token: ownerToken });
    await gqlOk(gw, `mutation($c: String!, $m: JSON!) { publishPersistedOperations(client: $c, manifest: $m) }`, { c: name, m: manifest }, { token: ownerToken });
    partners.push({ apiKey: k.createApiKey.secret, documents: manifest.operations.map((o) => ({ id: o.id, name: o.name })) });
  }
  return partners;
}

/** Runs the users over `workers` child processes (partners go to the first) and merges their results. */
export async function runMixedLoad(base: Omit<MixConfig, 'worker'>, workers: number, onProcess?: (pid: number) => void): Promise<MixResult[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cos-mix-'));
  const w = Math.max(1, Math.min(workers, base.users.length));
  const runs = Array.from({ length: w }, (_, k) => {
    const cfg: MixConfig = {
      ...base,
      users: base.users.filter((_, i) => i % w === k),
      partners: k === 0 ? base.partners : [],
      worker: k,
    };
    const cfgFile = path.join(dir, `config-${k}.json`);
    const outFile = path.join(dir, `result-${k}.json`);
    writeFileSync(cfgFile, JSON.stringify(cfg));
    return new Promise<MixResult>((resolve, reject) => {
      const child = spawn(tsx, [path.join(here, 'mixed-load.ts'), cfgFile, outFile], { stdio: ['ignore', 'inherit', 'inherit'] });
      if (child.pid) onProcess?.(child.pid);
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(readFileSync(outFile, 'utf8')) as MixResult) : reject(new Error(`load worker ${k} exited ${code}`))));
    });
  });
  return Promise.all(runs);
}

export interface ResourceSample {
  at: number;
  pgConnections: number;
  consumerLag: Record<string, number>;
}

/** Samples Postgres connections and every durable consumer's pending + unacked messages every `everyMs`. */
export function startSampler(opts: { pgAdminUrl: string; database: string; natsUrl: string; prefix: string; everyMs?: number }) {
  const samples: ResourceSample[] = [];
  let stopped = false;
  let bus: Bus | null = null;
  const pgc = new pg.Pool({ connectionString: opts.pgAdminUrl, max: 1, connectionTimeoutMillis: 3_000 });
  pgc.on('error', () => undefined);
  const tick = async () => {
    const s: ResourceSample = { at: Date.now(), pgConnections: -1, consumerLag: {} };
    try {
      const r = await pgc.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1`, [opts.database]);
      s.pgConnections = r.rows[0]!.n;
    } catch {
      /* Postgres restarting */
    }
    try {
      bus ??= await connectBus({ servers: opts.natsUrl, subjectPrefix: opts.prefix, name: 'bench-sampler', log: createLogger('bench-sampler', 'silent'), timeoutMs: 3_000 });
      for await (const c of bus.jsm.consumers.list(bus.streamName)) {
        // Durable consumers only: the services' reactors (the gateway's subscription readers are ephemeral).
        if (c.config.durable_name) s.consumerLag[c.name] = c.num_pending + c.num_ack_pending;
      }
    } catch {
      /* NATS restarting */
    }
    samples.push(s);
  };
  const loop = (async () => {
    while (!stopped) {
      await tick();
      await new Promise((r) => setTimeout(r, opts.everyMs ?? 5_000));
    }
  })();
  return {
    samples,
    async stop() {
      stopped = true;
      await loop;
      await tick();
      await pgc.end().catch(() => undefined);
      await bus?.close().catch(() => undefined);
    },
  };
}

export function processCpu(stack: TestStack) {
  const snap = () => Object.fromEntries(stack.stack.processes.map((p) => [p.name, { cpu: p.child.pid ? treeCpuMs(p.child.pid) : 0, rss: p.child.pid ? treeRssMiB(p.child.pid) : 0 }]));
  return snap;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '–');

export interface LatencyReport {
  lines: string[];
  overall: { n: number; p50: number; p95: number; p99: number; errorRate: number; errors: number; conflicts: number; rps: number };
  outcomes: Map<string, number>;
  sloMet: boolean;
}

/** p50/p95/p99 per operation kind and overall, outcome counts, SLO verdict, for the measured samples. */
export function latencyReport(results: MixResult[], measuredMs: number): LatencyReport {
  const byKind = new Map<string, { ms: number[]; outcomes: Map<string, number> }>();
  const all: number[] = [];
  const outcomes = new Map<string, number>();
  for (const r of results) {
    for (const [kind, ms, outcome, measured] of r.samples) {
      if (!measured) continue;
      const k = byKind.get(kind) ?? { ms: [] as number[], outcomes: new Map<string, number>() };
      byKind.set(kind, k);
      k.ms.push(ms);
      k.outcomes.set(outcome, (k.outcomes.get(outcome) ?? 0) + 1);
      all.push(ms);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
  }
  const lines = ['| operation | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | conflicts |', '|---|---|---|---|---|---|---|---|---|'];
  const errs = (m: Map<string, number>) => [...m].filter(([o]) => !NOT_ERRORS.has(o)).reduce((a, [, n]) => a + n, 0);
  for (const [kind, k] of [...byKind].sort((a, b) => b[1].ms.length - a[1].ms.length)) {
    const s = k.ms.sort((a, b) => a - b);
    lines.push(`| ${kind} | ${s.length} | ${((s.length * 1000) / measuredMs).toFixed(1)} | ${f0(pct(s, 50))} | ${f0(pct(s, 95))} | ${f0(pct(s, 99))} | ${f0(s[s.length - 1] ?? NaN)} | ${errs(k.outcomes)} | ${k.outcomes.get('CONFLICT') ?? 0} |`);
  }
  all.sort((a, b) => a - b);
  const errors = errs(outcomes);
  const overall = {
    n: all.length,
    p50: pct(all, 50),
    p95: pct(all, 95),
    p99: pct(all, 99),
    errors,
    conflicts: outcomes.get('CONFLICT') ?? 0,
    errorRate: errors / Math.max(1, all.length),
    rps: (all.length * 1000) / measuredMs,
  };
  lines.push(`| **all** | ${overall.n} | ${overall.rps.toFixed(1)} | ${f0(overall.p50)} | ${f0(overall.p95)} | ${f0(overall.p99)} | ${f0(all[all.length - 1] ?? NaN)} | ${errors} | ${overall.conflicts} |`);
  const sloMet = overall.p95 < SLO.p95Ms && overall.p99 < SLO.p99Ms && overall.errorRate < SLO.errorRate;
  return { lines, overall, outcomes, sloMet };
}

export function sloLines(o: LatencyReport['overall']): string[] {
  const v = (ok: boolean) => (ok ? 'met' : '**not met**');
  return [
    '| SLO | target | measured | |',
    '|---|---|---|---|',
    `| p95 latency | < ${SLO.p95Ms} ms | ${f0(o.p95)} ms | ${v(o.p95 < SLO.p95Ms)} |`,
    `| p99 latency | < ${SLO.p99Ms} ms | ${f0(o.p99)} ms | ${v(o.p99 < SLO.p99Ms)} |`,
    `| error rate (every outcome but ok and CONFLICT) | < ${(SLO.errorRate * 100).toFixed(1)} % | ${(o.errorRate * 100).toFixed(3)} % (${o.errors} of ${o.n}) | ${v(o.errorRate < SLO.errorRate)} |`,
  ];
}

/**
 * Subscriptions: every subscriber must receive every taskChanged event from its first one on, once. The expected
 * set is the union of the cursors any subscriber saw (checked against the events table by the caller) after that
 * subscriber's first cursor.
 */
export function subscriptionReport(results: MixResult[]) {
  const subs = results.flatMap((r) => r.subscribers);
  const union = new Set<number>();
  for (const s of subs) for (const c of s.cursors) union.add(Number(c));
  const sorted = [...union].sort((a, b) => a - b);
  let expected = 0;
  let received = 0;
  /** Not received although a later event was: lost. */
  let holes = 0;
  /** Not received and nothing later either: still on the way when the client closed. */
  let tail = 0;
  const lag: number[] = [];
  const closeCodes = new Map<number, number>();
  let duplicates = 0;
  let reconnects = 0;
  let withMissing = 0;
  /** Subscribers with more lost events than error payloads: events that vanished without the client being told. */
  let silentlyMissing = 0;
  let errorPayloads = 0;
  const errors = new Set<string>();
  for (const s of subs) {
    const first = s.cursors.length ? Math.min(...s.cursors.map(Number)) : Infinity;
    const mine = new Set(s.cursors.map(Number));
    const exp = sorted.filter((c) => c >= first).length;
    const lastMine = s.cursors.length ? Math.max(...s.cursors.map(Number)) : -Infinity;
    let myHoles = 0;
    for (const c of sorted) {
      if (c < first || mine.has(c)) continue;
      if (c < lastMine) myHoles++;
      else tail++;
    }
    holes += myHoles;
    errorPayloads += s.errorPayloads ?? 0;
    if (myHoles > (s.errorPayloads ?? 0)) silentlyMissing++;
    for (const l of s.lagMs) lag.push(l);
    for (const c of s.closeCodes) closeCodes.set(c, (closeCodes.get(c) ?? 0) + 1);
    expected += exp;
    received += mine.size;
    duplicates += s.duplicates;
    reconnects += s.reconnects;
    if (mine.size < exp) withMissing++;
    if (s.firstError) errors.add(s.firstError);
  }
  lag.sort((a, b) => a - b);
  return {
    subscribers: subs.length,
    events: union.size,
    minCursor: sorted[0],
    maxCursor: sorted[sorted.length - 1],
    expected,
    received,
    holes,
    tail,
    lag: { p50: pct(lag, 50), p95: pct(lag, 95), p99: pct(lag, 99), max: lag[lag.length - 1] ?? NaN },
    closeCodes: [...closeCodes].map(([c, n]) => `${c}×${n}`).join(', ') || 'none',
    duplicates,
    reconnects,
    withMissing,
    silentlyMissing,
    errorPayloads,
    errors: [...errors].slice(0, 3),
  };
}

export { f0, pct };
export type { BenchData };
