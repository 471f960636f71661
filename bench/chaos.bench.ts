/**
 * `pnpm chaos` (= `pnpm bench chaos`) [--users 100] [--minutes 4] [--think-ms 2000] [--faults a,b,...]
 *
 * Faults injected while the mixed load runs (bench/lib/mixed-load.ts, two gateways behind the load generator's
 * client-side failover), every server PRIVATE to this run (bench/lib/scratch-servers.ts; the machine's shared
 * Postgres/NATS/Redis are never restarted):
 *   customers  kill -9 the customers process: its outbox relay (each service runs its own relay), its consumers, its subgraph
 *   tasks      kill -9 the tasks process: the consumer of churn signals (reaction 2) and the busiest relay
 *   identity   kill -9 the identity subgraph (sign-in, JWKS, API keys, audit consumers)
 *   gateway    kill -9 one of the two gateways (clients move to the other), then start it again
 *   postgres   restart Postgres like a crash (pg_ctl -m immediate: every connection cut, WAL recovery on start)
 *   nats       restart NATS (SIGTERM, 3 s down; JetStream state on disk)
 *   redis      restart Redis (SIGTERM, 2 s down; nothing persisted: rate-limit buckets, APQ, subscription leases lost)
 * Afterwards (load stopped, outboxes and consumers drained): every committed event published exactly once, every
 * reaction applied exactly once, read models equal a rebuild, and the errors clients saw were retryable ones.
 * Prints the table of faults and outcomes and the table of checks; exits 1 when a check fails.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { connectBus } from '@cos/bus';
import { createLogger } from '@cos/logger';
import { freePort, startTestStack, type TestStack } from '../e2e/support/test-stack';
import { gql } from '../scripts/lib/graphql-client';
import { repoRoot, SERVICES } from '../scripts/lib/paths';
import { checkPublishedOnce, checkReactionsOnce, checkRebuilds, waitDrained, type Check } from './lib/invariants';
import type { MixResult } from './lib/mixed-load';
import { startScratchServers, type ScratchServers } from './lib/scratch-servers';
import { BENCH_PASSWORD, benchEmails, createPartners, f0, latencyReport, NOT_ERRORS, RETRYABLE, runMixedLoad, subscriptionReport } from './lib/soak-stack';
import { seedBenchData } from './lib/seed-data';

const ALL_FAULTS = ['customers', 'tasks', 'identity', 'gateway', 'postgres', 'nats', 'redis'] as const;
type Fault = (typeof ALL_FAULTS)[number];

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '100' },
    minutes: { type: 'string', default: '4' },
    'think-ms': { type: 'string', default: '2000' },
    faults: { type: 'string', default: ALL_FAULTS.join(',') },
    partners: { type: 'string', default: '4' },
  },
  strict: true,
});
const USERS = Number(args.users);
const MINUTES = Number(args.minutes);
const THINK_MS = Number(args['think-ms']);
const FAULTS = args.faults.split(',').map((f) => f.trim()) as Fault[];
const bad = FAULTS.filter((f) => !(ALL_FAULTS as readonly string[]).includes(f));
if (bad.length || !(USERS > 0) || !(MINUTES > 0)) {
  console.error(`usage: pnpm chaos [--users N] [--minutes M] [--faults ${ALL_FAULTS.join(',')}]${bad.length ? ` (unknown: ${bad.join(', ')})` : ''}`);
  process.exit(2);
}
const RAMP_MS = Math.max(15, Math.ceil(USERS / 10)) * 1000;
const log = (m: string) => console.error(`[chaos] ${new Date().toISOString().slice(11, 19)} ${m}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface FaultRecord {
  fault: Fault;
  what: string;
  at: number;
  /** The fault was injected and the thing restarted (ms after `at`). */
  restartedMs: number;
  /** A probe touching every subgraph answered without error again through the gateways (ms after `at`). */
  recoveredMs: number | null;
  /** Stack processes found dead afterwards (a crash the fault caused, not the kill itself). */
  died: string[];
}

async function main() {
  log('private Postgres/NATS/Redis');
  const servers: ScratchServers = await startScratchServers({ maxConnections: 300 });
  Object.assign(process.env, servers.env);
  const secret = randomBytes(32).toString('hex');
  let t: TestStack;
  try {
    t = await startTestStack({ internalSecret: secret, extraEnv: { LOG_LEVEL: 'warn' }, perProcessEnv: { gateway: { TRUSTED_PROXIES: 'loopback' } } });
  } catch (err) {
    await servers.stop();
    throw err;
  }
  let failed: boolean;
  try {
    // A second gateway over the same subgraphs, Redis and NATS: the clients' failover target.
    const gw2Port = await freePort();
    const gw = t.stack.processes.find((p) => p.name === 'gateway')!;
    const identityPort = t.stack.processes.find((p) => p.name === 'identity')!.port;
    await t.stack.startProcess({
      name: 'gateway-2',
      entry: `${repoRoot}/gateway/src/index.ts`,
      env: {
        PORT: String(gw2Port),
        INTERNAL_SECRET: secret,
        NATS_URL: servers.nats.url,
        REDIS_URL: servers.redis.url,
        COS_SUBJECT_PREFIX: t.prefix,
        TRUSTED_PROXIES: 'loopback',
        JWKS_URL: `http://127.0.0.1:${identityPort}/.well-known/jwks.json`,
        ...Object.fromEntries(SERVICES.map((s) => [`SUBGRAPH_${s.toUpperCase()}_URL`, t.stack.serviceUrl(s)])),
      },
      health: { port: gw2Port, path: '/readyz' },
    });
    const gateways = [t.gatewayUrl, `http://127.0.0.1:${gw2Port}/graphql`];
    log(`stack up: gateways ${gw.port} and ${gw2Port}; seeding`);
    const data = await seedBenchData(t.gatewayUrl, t.db.adminUrl, { users: USERS, customers: 20, tasks: 100, commentsPerTask: 1, concurrency: 8 }, log);
    const partners = await createPartners(t.gatewayUrl, data.tokens[0]!, Number(args.partners));
    const owner = data.tokens[0]!;

    const measureMs = MINUTES * 60_000;
    log(`load: ${USERS} users + ${partners.length} partners over 2 gateways, ${RAMP_MS / 1000} s ramp + ${MINUTES} min; faults: ${FAULTS.join(', ')}`);
    const loadDone = runMixedLoad(
      {
        gateways,
        orgId: data.orgId,
        users: benchEmails(USERS).map((email) => ({ email, password: BENCH_PASSWORD })),
        partners,
        taskIds: data.taskIds,
        customerIds: data.customerIds,
        durationMs: measureMs,
        rampMs: RAMP_MS,
        thinkMs: THINK_MS,
        subscribeShare: 0.2,
        requestTimeoutMs: 15_000,
        forwardedFor: true,
      },
      1,
    );

    /** Every subgraph through each gateway, past the response cache. */
    const probe = async (): Promise<boolean> => {
      for (const url of gateways) {
        const r = await gql(url, `{ me { id } tasks(first: 1) { totalCount } customers(first: 1) { totalCount } agents { id } }`, {}, { token: owner, headers: { 'cache-control': 'no-cache' }, timeoutMs: 5_000 }).catch(() => null);
        if (!r || r.status !== 200 || r.errors?.length) return false;
      }
      return true;
    };
    const killProcess = async (name: string) => {
      const p = t.stack.processes.find((x) => x.name === name)!;
      const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
      p.child.kill('SIGKILL');
      await exited;
      await t.stack.restartProcess(name);
    };
    const inject: Record<Fault, [string, () => Promise<void>]> = {
      customers: ['kill -9 customers (outbox relay + consumers + subgraph), restart', () => killProcess('customers')],
      tasks: ['kill -9 tasks (churn consumer + relay + subgraph), restart', () => killProcess('tasks')],
      identity: ['kill -9 identity (subgraph, JWKS, API keys, audit consumers), restart', () => killProcess('identity')],
      gateway: ['kill -9 gateway 1 (clients fail over to gateway 2), restart', () => killProcess('gateway')],
      postgres: ['Postgres crash-restart (pg_ctl -m immediate, 3 s down)', () => servers.postgres.restart({ hard: true, downMs: 3_000 })],
      nats: ['NATS restart (SIGTERM, 3 s down)', () => servers.nats.restart({ downMs: 3_000 })],
      redis: ['Redis restart (SIGTERM, 2 s down, nothing persisted)', () => servers.redis.restart({ downMs: 2_000 })],
    };

    const records: FaultRecord[] = [];
    const start = Date.now() + RAMP_MS;
    const gap = measureMs / (FAULTS.length + 1);
    for (const [i, fault] of FAULTS.entries()) {
      await sleep(Math.max(0, start + gap * (i + 0.5) - Date.now()));
      const [what, run] = inject[fault];
      const at = Date.now();
      log(`fault ${i + 1}/${FAULTS.length}: ${what}`);
      try {
        await run();
      } catch (err) {
        log(`  restart failed: ${(err as Error).message}`);
      }
      const restartedMs = Date.now() - at;
      let recoveredMs: number | null = null;
      const until = at + Math.max(60_000, gap);
      while (Date.now() < until) {
        if (await probe()) {
          recoveredMs = Date.now() - at;
          break;
        }
        await sleep(250);
      }
      const died = t.stack.processes.filter((p) => p.child.exitCode !== null || p.child.signalCode !== null).map((p) => `${p.name} (exit ${p.child.exitCode ?? p.child.signalCode})`);
      log(`  restarted in ${restartedMs} ms, every subgraph answering again after ${recoveredMs ?? 'never'} ms${died.length ? `; DEAD: ${died.join(', ')}` : ''}`);
      records.push({ fault, what, at, restartedMs, recoveredMs, died });
      // A crashed process stays down in production until its supervisor restarts it: do that, so the next fault is
      // measured on its own (the crash is reported in the table and fails the run).
      for (const name of died.map((d) => d.split(' ')[0]!)) await t.stack.restartProcess(name).catch((err: Error) => log(`  could not restart ${name}: ${err.message}`));
    }
    const results: MixResult[] = await loadDone;
    log('load finished; waiting for outboxes and consumers to drain');

    const bus = await connectBus({ servers: servers.nats.url, subjectPrefix: t.prefix, name: 'chaos-check', log: createLogger('chaos-check', 'silent') });
    const checks: Check[] = [];
    const subs = subscriptionReport(results);
    try {
      const drained = await waitDrained(t.db.adminUrl, bus, 120_000);
      log(`drained after ${drained.drainedMs} ms (unpublished ${drained.unpublished}, pending ${drained.pending})`);
      checks.push({ check: 'outboxes empty and consumers caught up after the load', expected: '0 unpublished, 0 pending', found: `${drained.unpublished} unpublished, ${drained.pending} pending (${drained.drainedMs} ms)`, ok: drained.unpublished === 0 && drained.pending === 0 });
      // The stack stops first: a rebuild must compare settled read models (and locks the events tables meanwhile).
      await t.stack.stop();
      const published = await checkPublishedOnce(t.db.adminUrl, bus);
      checks.push(...published.checks);
      checks.push(...(await checkReactionsOnce(t.db.adminUrl, bus, published.messages)));
      checks.push(...(await checkRebuilds(t.db.adminUrl)));
    } finally {
      await bus.close();
    }

    // ------------------------------------------------------------------------------------------ client errors
    const all = results.flatMap((r) => r.samples);
    const nonOk = all.filter(([, , o]) => !NOT_ERRORS.has(o));
    const nonRetryable = nonOk.filter(([, , o]) => !RETRYABLE.has(o));
    const byCode = new Map<string, number>();
    for (const [, , o] of nonOk) byCode.set(o, (byCode.get(o) ?? 0) + 1);
    checks.push({
      check: 'clients saw only retryable errors',
      expected: '0 non-retryable',
      found: `${nonOk.length} errors of ${all.length} requests, ${nonRetryable.length} non-retryable${nonRetryable.length ? ` (${[...new Set(nonRetryable.map(([k, , o]) => `${k}:${o}`))].slice(0, 6).join(', ')})` : ''}`,
      ok: nonRetryable.length === 0,
    });
    checks.push({
      check: 'subscriptions: every event after a subscriber\'s first, exactly once (resumed by cursor after drops), or an error telling the client',
      expected: `${subs.expected} deliveries, 0 duplicates, nothing missing silently`,
      found: `${subs.received} received (${subs.holes} lost, ${subs.errorPayloads} error payloads instead, ${subs.silentlyMissing} subscribers missing events silently, ${subs.tail} not delivered before the client closed), ${subs.duplicates} duplicates, ${subs.reconnects} reconnects (close codes ${subs.closeCodes}), ${subs.withMissing} of ${subs.subscribers} subscribers missing events`,
      ok: subs.silentlyMissing === 0 && subs.tail === 0 && subs.duplicates === 0,
    });

    // ------------------------------------------------------------------------------------------------ report
    console.log(`### Chaos: ${USERS} users + ${partners.length} partners over 2 gateways, ${MINUTES} min of load, ${FAULTS.length} faults\n`);
    console.log(`Shared 2-core machine (other sessions running): recovery times are upper bounds.\n`);
    console.log('| # | fault | restarted in | all subgraphs answer again after | processes crashed | requests in the window | ok | retryable errors | non-retryable |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const [i, r] of records.entries()) {
      const end = (records[i + 1]?.at ?? Infinity) - 1;
      const inWindow = all.filter(([, , , , at]) => at >= r.at && at < Math.min(end, r.at + (r.recoveredMs ?? 60_000) + 5_000));
      const errs = inWindow.filter(([, , o]) => !NOT_ERRORS.has(o));
      const codes = new Map<string, number>();
      for (const [, , o] of errs) codes.set(o, (codes.get(o) ?? 0) + 1);
      const retry = errs.filter(([, , o]) => RETRYABLE.has(o));
      const desc = [...codes].map(([c, n]) => `${c} ${n}`).join(', ');
      console.log(`| ${i + 1} | ${r.what} | ${(r.restartedMs / 1000).toFixed(1)} s | ${r.recoveredMs === null ? '**not recovered**' : `${(r.recoveredMs / 1000).toFixed(1)} s`} | ${r.died.length ? `**${r.died.join(', ')}**` : 'none'} | ${inWindow.length} | ${inWindow.length - errs.length} | ${retry.length}${desc ? ` (${desc})` : ''} | ${errs.length - retry.length} |`);
    }
    const measured = latencyReport(results, measureMs);
    console.log(`\nWhole run: ${all.length} requests, p50 ${f0(measured.overall.p50)} ms, p95 ${f0(measured.overall.p95)} ms, p99 ${f0(measured.overall.p99)} ms; failovers to the other gateway: ${results.reduce((a, r) => a + r.failovers, 0)}.`);
    console.log(`Errors by code: ${[...byCode].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c}${RETRYABLE.has(c) ? '' : ' (NOT retryable)'} ${n}`).join(', ') || 'none'}.`);
    const firsts = Object.entries(Object.assign({}, ...results.map((r) => r.firstFailures)) as Record<string, string>).filter(([k]) => !k.endsWith(':CONFLICT'));
    if (firsts.length) {
      console.log('\nFirst failure of each kind:');
      for (const [k, v] of firsts.slice(0, 15)) console.log(`- ${k}: ${v}`);
    }
    const crashes = records.flatMap((r) => r.died.map((d) => `${d} after "${r.fault}"`));
    checks.push({ check: 'no process crashed because of a fault', expected: 'none', found: crashes.join('; ') || 'none', ok: crashes.length === 0 });
    console.log('\n| check | expected | found | |\n|---|---|---|---|');
    for (const c of checks) console.log(`| ${c.check} | ${c.expected} | ${c.found} | ${c.ok ? 'ok' : '**FAILED**'} |`);
    failed = checks.some((c) => !c.ok);
    console.log(`\n**${failed ? 'Some guarantees did NOT hold' : 'Every guarantee held'}** (${checks.filter((c) => c.ok).length}/${checks.length} checks).`);
    if (failed) console.log(`\nLogs kept in ${t.logDir}`);
  } finally {
    await t.stop().catch(() => undefined);
    await servers.stop().catch(() => undefined);
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
