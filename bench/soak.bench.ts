/**
 * `pnpm bench soak [--users 500] [--minutes 10] [--think-ms 3000] [--workers 2] [--subscribers 0.2] [--partners 10]`
 *
 * N concurrent users for a bounded time through the gateway, with the mix of bench/lib/mixed-load.ts: reads (task
 * pages and details, customer overviews and details, search), writes with optimistic-lock versions (updateTask,
 * createTask, addComment, recordSignal), sign-ins and token refreshes, a share of users holding a graphql-ws
 * subscription (events received vs expected), and partners running trusted documents with their API keys.
 * The stack runs on PRIVATE Postgres/NATS/Redis servers (bench/lib/scratch-servers.ts) so 500 users' connections and
 * events stay off the machine's shared servers. The load runs in `--workers` child processes (undici Pool each).
 *
 * Prints p50/p95/p99 per operation kind and overall, the outcomes by code, the SLOs (p95 < 500 ms, p99 < 2 s,
 * errors < 0.1 %) met or not, and resources: CPU and RSS of every process (the load generator's too, so it can be
 * seen not to be the bottleneck), Postgres connections, the JetStream consumers' lag (pending + unacked).
 * Exit 0 whatever the figures (a bench reports; it does not assert timings); 1 only when the run itself broke.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { connectBus } from '@cos/bus';
import { createLogger } from '@cos/logger';
import { startTestStack } from '../e2e/support/test-stack';
import { seedBenchData } from './lib/seed-data';
import { startScratchServers } from './lib/scratch-servers';
import { scanStream } from './lib/stream-scan';
import { postgresCpuMs, treeCpuMs, treeRssMiB } from './lib/proc';
import {
  BENCH_PASSWORD,
  benchEmails,
  createPartners,
  f0,
  latencyReport,
  NOT_ERRORS,
  runMixedLoad,
  sloLines,
  startSampler,
  subscriptionReport,
} from './lib/soak-stack';

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '500' },
    minutes: { type: 'string', default: '10' },
    'think-ms': { type: 'string', default: '3000' },
    workers: { type: 'string', default: '2' },
    subscribers: { type: 'string', default: '0.2' },
    partners: { type: 'string', default: '10' },
    tasks: { type: 'string', default: '300' },
    customers: { type: 'string', default: '40' },
    'ramp-s': { type: 'string', default: '' },
  },
  strict: true,
});
const USERS = Number(args.users);
const MINUTES = Number(args.minutes);
const THINK_MS = Number(args['think-ms']);
const WORKERS = Number(args.workers);
const SUB_SHARE = Number(args.subscribers);
const PARTNERS = Number(args.partners);
// Every user signs in once at the start (argon2id on identity): spread over ~100 ms of CPU per user, min 30 s.
const RAMP_MS = (args['ramp-s'] ? Number(args['ramp-s']) : Math.max(30, Math.ceil(USERS / 10))) * 1000;
for (const [k, v] of Object.entries({ USERS, MINUTES, THINK_MS, WORKERS, SUB_SHARE, PARTNERS, RAMP_MS })) {
  if (!Number.isFinite(v) || v < 0 || (k !== 'SUB_SHARE' && k !== 'PARTNERS' && v === 0)) {
    console.error(`invalid ${k}: ${v}`);
    process.exit(2);
  }
}
const log = (m: string) => console.error(`[soak] ${new Date().toISOString().slice(11, 19)} ${m}`);

async function main() {
  log(`private Postgres/NATS/Redis`);
  const servers = await startScratchServers({ maxConnections: 300, statements: true });
  Object.assign(process.env, servers.env);
  const t = await startTestStack({
    extraEnv: { LOG_LEVEL: 'warn' },
    // Users come from many addresses: the load sends X-Forwarded-For through the loopback "proxy".
    perProcessEnv: { gateway: { TRUSTED_PROXIES: 'loopback' } },
  }).catch(async (err) => {
    await servers.stop();
    throw err;
  });
  const loadPids: number[] = [];
  try {
    log(`stack up at ${t.gatewayUrl}; seeding ${USERS} users (through the gateway)`);
    const seedStart = Date.now();
    const data = await seedBenchData(t.gatewayUrl, t.db.adminUrl, { users: USERS, customers: Number(args.customers), tasks: Number(args.tasks), commentsPerTask: 1, concurrency: 8 }, log);
    log(`seeded in ${((Date.now() - seedStart) / 1000).toFixed(0)} s`);
    const partners = await createPartners(t.gatewayUrl, data.tokens[0]!, PARTNERS);
    log(`${partners.length} partner keys with trusted documents`);

    const dbName = new URL(t.db.adminUrl).pathname.slice(1);
    const sampler = startSampler({ pgAdminUrl: t.db.adminUrl, database: dbName, natsUrl: servers.nats.url, prefix: t.prefix });
    const procs = () => [
      ...t.stack.processes.map((p) => ({ name: p.name, pid: p.child.pid! })),
      ...(['postgres', 'nats', 'redis'] as const).map((n) => ({ name: `${n} (private server)`, pid: servers[n].pid() ?? -1 })),
    ];
    const maxRss = new Map<string, number>();
    let cpu0: Map<string, number> | null = null;
    let pgCpu0: Map<string, number> | null = null;
    let pgStats0: DbCounters | null = null;
    const cpuAt = () => new Map(procs().map((p) => [p.name, treeCpuMs(p.pid)]));
    const pgCpuAt = () => postgresCpuMs(servers.postgres.pid() ?? -1);
    const loadRss = new Map<number, number>();
    const rssTimer = setInterval(() => {
      for (const p of procs()) maxRss.set(p.name, Math.max(maxRss.get(p.name) ?? 0, treeRssMiB(p.pid)));
      for (const pid of loadPids) loadRss.set(pid, Math.max(loadRss.get(pid) ?? 0, treeRssMiB(pid)));
    }, 5_000);
    const measureMs = MINUTES * 60_000;
    const startTimer = setTimeout(() => {
      cpu0 = cpuAt();
      pgCpu0 = pgCpuAt();
      void resetStatements(t.db.adminUrl)
        .then(async () => {
          pgStats0 = await dbCounters(t.db.adminUrl);
        })
        .catch((err: Error) => log(`pg_stat_statements reset failed: ${err.message}`));
    }, RAMP_MS);
    log(`load: ${USERS} users + ${partners.length} partners, ramp ${RAMP_MS / 1000} s, then ${MINUTES} min measured, think ${THINK_MS} ms`);
    const results = await runMixedLoad(
      {
        gateways: [t.gatewayUrl],
        orgId: data.orgId,
        users: benchEmails(USERS).map((email) => ({ email, password: BENCH_PASSWORD })),
        partners,
        taskIds: data.taskIds,
        customerIds: data.customerIds,
        durationMs: measureMs,
        rampMs: RAMP_MS,
        thinkMs: THINK_MS,
        subscribeShare: SUB_SHARE,
        requestTimeoutMs: 30_000,
        forwardedFor: true,
      },
      WORKERS,
      (pid) => loadPids.push(pid),
    );
    clearTimeout(startTimer);
    clearInterval(rssTimer);
    const cpu1 = cpuAt();
    const pgCpu1 = pgCpuAt();
    const pgStats1 = await dbCounters(t.db.adminUrl).catch(() => null);
    await sampler.stop();

    // Subscriptions: the cursors seen against the stream itself (Task events of the organization in that range).
    const subs = subscriptionReport(results);
    let streamTaskEvents: number | null = null;
    if (subs.minCursor !== undefined) {
      const bus = await connectBus({ servers: servers.nats.url, subjectPrefix: t.prefix, name: 'soak-check', log: createLogger('soak-check', 'silent') });
      try {
        const msgs = await scanStream(bus, { filter: `${t.prefix}.${data.orgId}.tasks.Task.>`, fromSeq: subs.minCursor });
        streamTaskEvents = msgs.filter((m) => m.seq <= subs.maxCursor!).length;
      } finally {
        await bus.close();
      }
    }

    // ---------------------------------------------------------------------------------------------- report
    const measuredMs = measureMs;
    const rep = latencyReport(results, Math.max(1, measuredMs));
    console.log(`### Soak: ${USERS} users, ${partners.length} partners, ${MINUTES} min measured (after a ${RAMP_MS / 1000} s sign-in ramp), think time ${THINK_MS} ms (exponential)\n`);
    console.log(`Shared 2-core machine: other sessions' tests and stacks run at the same time, so these figures are noisy and pessimistic.\n`);
    console.log(rep.lines.join('\n'));
    console.log('');
    console.log(sloLines(rep.overall).join('\n'));
    console.log(`\n**SLOs ${rep.sloMet ? 'met' : 'NOT met'}** (CONFLICT answers to stale optimistic-lock versions are correct answers, counted apart: ${rep.overall.conflicts}).\n`);
    console.log('| outcome | count | share |\n|---|---|---|');
    for (const [o, n] of [...rep.outcomes].sort((a, b) => b[1] - a[1])) {
      console.log(`| ${o}${NOT_ERRORS.has(o) ? '' : ' (error)'} | ${n} | ${((100 * n) / Math.max(1, rep.overall.n)).toFixed(3)} % |`);
    }
    const firsts = Object.assign({}, ...results.map((r) => r.firstFailures)) as Record<string, string>;
    const interesting = Object.entries(firsts).filter(([k]) => !k.endsWith(':CONFLICT'));
    if (interesting.length) {
      console.log('\nFirst failure of each kind:');
      for (const [k, v] of interesting.slice(0, 12)) console.log(`- ${k}: ${v}`);
    }
    console.log(`\n| subscriptions (graphql-ws, taskChanged, org-wide) | value |\n|---|---|`);
    console.log(`| subscribers | ${subs.subscribers} |`);
    console.log(`| Task events seen (cursor range ${subs.minCursor ?? '–'}..${subs.maxCursor ?? '–'}) / in the stream for that range | ${subs.events} / ${streamTaskEvents ?? '–'} |`);
    console.log(`| deliveries received / expected (from each subscriber's first event on) | ${subs.received} / ${subs.expected} (${((100 * subs.received) / Math.max(1, subs.expected)).toFixed(2)} %) |`);
    console.log(`| missing: lost (a later event arrived) / not yet delivered when the client closed | ${subs.holes} / ${subs.tail} |`);
    console.log(`| delivery lag, commit → client (CREATED/UPDATED) p50 / p95 / p99 / max | ${f0(subs.lag.p50)} / ${f0(subs.lag.p95)} / ${f0(subs.lag.p99)} / ${f0(subs.lag.max)} ms |`);
    console.log(`| duplicates / reconnects (close codes) / subscribers missing an event | ${subs.duplicates} / ${subs.reconnects} (${subs.closeCodes}) / ${subs.withMissing} |`);
    if (subs.errors.length) console.log(`| first errors | ${subs.errors.join('; ')} |`);

    const cpuBase = cpu0 ?? new Map<string, number>();
    console.log(`\n| process | CPU (share of one core, measured window) | max RSS MiB |\n|---|---|---|`);
    for (const p of procs()) {
      const used = (cpu1.get(p.name) ?? 0) - (cpuBase.get(p.name) ?? 0);
      console.log(`| ${p.name} | ${((100 * used) / Math.max(1, measuredMs)).toFixed(0)} % | ${f0(maxRss.get(p.name) ?? 0)} |`);
    }
    let stackCpu = 0;
    for (const p of procs()) stackCpu += (cpu1.get(p.name) ?? 0) - (cpuBase.get(p.name) ?? 0);
    console.log(`| **stack (every process above), CPU-ms per request** | **${(stackCpu / Math.max(1, rep.overall.n)).toFixed(2)}** (${((100 * stackCpu) / Math.max(1, measuredMs)).toFixed(0)} % of one core) | |`);
    for (const r of results) console.log(`| load generator ${r.worker + 1} (its own process.cpuUsage) | ${((100 * r.cpuMs) / Math.max(1, measuredMs)).toFixed(0)} % | ${f0(loadRss.get(loadPids[r.worker] ?? -1) ?? 0)} |`);
    const pgConns = sampler.samples.map((s) => s.pgConnections).filter((n) => n >= 0);
    const lagMax = new Map<string, number>();
    for (const s of sampler.samples) for (const [c, n] of Object.entries(s.consumerLag)) lagMax.set(c, Math.max(lagMax.get(c) ?? 0, n));
    const lastLag = sampler.samples[sampler.samples.length - 1]?.consumerLag ?? {};
    console.log(`\nPostgres connections to the stack's database: max ${Math.max(...pgConns, 0)}, mean ${f0(pgConns.reduce((a, b) => a + b, 0) / Math.max(1, pgConns.length))} (sampled every 5 s).`);
    console.log(`\n| JetStream consumer | max lag (pending + unacked) | at the end |\n|---|---|---|`);
    for (const [c, n] of [...lagMax].sort()) console.log(`| ${c} | ${n} | ${lastLag[c] ?? '–'} |`);
    console.log(`\nLoad generator: ${results.length} process(es); failovers ${results.reduce((a, r) => a + r.failovers, 0)}.`);
    const pgBase = pgCpu0 ?? new Map<string, number>();
    console.log(`\n| Postgres process kind | CPU (share of one core, measured window) |\n|---|---|`);
    for (const [k, v] of [...pgCpu1].sort((a, b) => b[1] - a[1])) {
      console.log(`| ${k} | ${((100 * (v - (pgBase.get(k) ?? 0))) / Math.max(1, measuredMs)).toFixed(1)} % |`);
    }
    if (pgStats0 && pgStats1) {
      const d = (k: keyof DbCounters) => Number(pgStats1[k]) - Number(pgStats0![k]);
      const perS = (k: keyof DbCounters) => ((1000 * d(k)) / measuredMs).toFixed(1);
      console.log(`\nPostgres, measured window: ${perS('commits')} commits/s, ${perS('rollbacks')} rollbacks/s, ${perS('walRecords')} WAL records/s, ${(d('walBytes') / measuredMs).toFixed(1)} kB WAL/s, ${perS('walSyncs')} WAL fsyncs/s.`);
    }
    console.log(await statementsReport(t.db.adminUrl, measuredMs).catch((err: Error) => `\n(pg_stat_statements unavailable: ${err.message})`));
  } finally {
    await t.stop().catch(() => undefined);
    await servers.stop().catch(() => undefined);
  }
}

/** Where Postgres spends the measured window: pg_stat_statements (loaded by the scratch server), reset after the ramp. */
async function resetStatements(adminUrl: string): Promise<void> {
  await withClient(adminUrl, async (c) => {
    await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await c.query('SELECT pg_stat_statements_reset()');
  });
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Cumulative counters of the stack's database and the server's WAL, read at the window's start and end. */
interface DbCounters {
  commits: string;
  rollbacks: string;
  walRecords: string;
  walBytes: string;
  walSyncs: string;
}

async function dbCounters(adminUrl: string): Promise<DbCounters> {
  return withClient(adminUrl, async (c) => {
    const { rows } = await c.query<DbCounters>(
      `SELECT d.xact_commit AS commits, d.xact_rollback AS rollbacks, w.wal_records AS "walRecords", w.wal_bytes AS "walBytes", w.wal_sync AS "walSyncs"
         FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = current_database()`,
    );
    return rows[0]!;
  });
}

async function statementsReport(adminUrl: string, measuredMs: number, top = 15): Promise<string> {
  return withClient(adminUrl, async (c) => {
    const { rows } = await c.query<{ query: string; calls: string; plans: string; total: number; plan: number; mean: number; rows: string; jit: number }>(
      `SELECT query, calls, plans, total_exec_time AS total, total_plan_time AS plan, mean_exec_time AS mean, rows,
              jit_generation_time + jit_inlining_time + jit_optimization_time + jit_emission_time AS jit
         FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        ORDER BY total_exec_time + total_plan_time DESC`,
    );
    const sum = (f: (r: (typeof rows)[number]) => number) => rows.reduce((a, r) => a + f(r), 0);
    const all = sum((r) => r.total);
    const plan = sum((r) => r.plan);
    const calls = sum((r) => Number(r.calls));
    const plans = sum((r) => Number(r.plans));
    const jit = sum((r) => r.jit);
    const share = (ms: number) => `${((100 * ms) / Math.max(1, measuredMs)).toFixed(0)} %`;
    const out = [
      `\nPostgres statements (pg_stat_statements, measured window): ${f0(all)} ms executing (${share(all)} of one backend's time) + ${f0(plan)} ms planning (${share(plan)}; ${plans} plans for ${calls} calls = ${((100 * plans) / Math.max(1, calls)).toFixed(0)} % planned), JIT ${f0(jit)} ms; ${rows.length} distinct statements, ${(calls / Math.max(1, measuredMs / 1000)).toFixed(0)} calls/s; top ${Math.min(top, rows.length)} by exec + plan time:`,
      '\n| statement | calls | calls/s | mean exec ms | exec ms | plan ms | plans | share (exec + plan) | rows |\n|---|---|---|---|---|---|---|---|---|',
    ];
    for (const r of rows.slice(0, top)) {
      const q = r.query.replace(/\s+/g, ' ').replace(/\|/g, '\\|').slice(0, 110);
      out.push(`| \`${q}\` | ${r.calls} | ${((1000 * Number(r.calls)) / measuredMs).toFixed(1)} | ${r.mean.toFixed(2)} | ${f0(r.total)} | ${f0(r.plan)} | ${r.plans} | ${((100 * (r.total + r.plan)) / Math.max(1e-9, all + plan)).toFixed(1)} % | ${r.rows} |`);
    }
    return out.join('\n');
  });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
