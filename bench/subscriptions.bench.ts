/**
 * Subscription fan-out: ONE gateway process holding N concurrent graphql-ws subscribers (raw graphql-transport-ws
 * sockets, one connection each), events produced through the real path (mutation → event store → outbox relay →
 * JetStream → gateway → federated lookup → clients). Prints: subscribers held, delivery latency p50/p99 from commit
 * (Task.updatedAt, written in the committing transaction) to client receipt, gateway RSS per subscriber, and the
 * resolution dedup ratio (deliveries / resolutions, from the gateway's own counters logged at shutdown).
 * Env: SUBS_BENCH_N (default 10000), SUBS_BENCH_EVENTS (default 20), SUBS_BENCH_USERS (default 0: two tokens, an
 * OWNER and a VIEWER; >0: that many MEMBER users of the org, each with their own login, hold the subscriptions as the
 * soak's users do — the case the per-principal grouping made one lookup per subscriber).
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { gqlOk } from '../scripts/lib/graphql-client';
import { startTestStack } from '../e2e/support/test-stack';

const N = Number(process.env.SUBS_BENCH_N ?? 10_000);
const EVENTS = Number(process.env.SUBS_BENCH_EVENTS ?? 20);
const USERS = Number(process.env.SUBS_BENCH_USERS ?? 0);
const deadline = Date.now() + 170_000;

function treeRssKb(pid: number): number {
  let total = 0;
  const walk = (p: number) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        const kids = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim();
        for (const k of kids ? kids.split(/\s+/) : []) walk(Number(k));
      }
    } catch {
      /* exited */
    }
  };
  walk(pid);
  return total;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function main() {
  const t = await startTestStack({
    perProcessEnv: { gateway: { SUBS_MAX_PER_PRINCIPAL: String(N + 10), SUBS_MAX_PER_CONNECTION: '10', LOG_LEVEL: 'info' } },
  });
  const sockets: WebSocket[] = [];
  try {
    const ok = (q: string, v: Record<string, unknown>, token: string) => gqlOk<any>(t.gatewayUrl, q, v, { token });
    const a = await ok(`mutation { signUp(input: { email: "bench@subs.test", password: "correct horse battery", name: "Bench Owner", organizationName: "Bench" }) { accessToken organization { id } } }`, {}, '');
    const owner = a.signUp.accessToken as string;
    await ok(`mutation { signUp(input: { email: "bview@subs.test", password: "correct horse battery", name: "Bench Viewer", organizationName: "Other" }) { accessToken } }`, {}, '');
    await ok(`mutation { inviteMember(email: "bview@subs.test", name: "Bench Viewer", role: VIEWER) { role } }`, {}, owner);
    const v = await ok(`mutation($o: ID!) { login(email: "bview@subs.test", password: "correct horse battery", organizationId: $o) { accessToken } }`, { o: a.signUp.organization.id }, '');
    const viewer = v.login.accessToken as string;
    const members: string[] = [];
    for (let u = 0; u < USERS; u++) {
      const email = `bmember${u}@subs.test`;
      await ok(`mutation($e: String!) { signUp(input: { email: $e, password: "correct horse battery", name: "Member ${u}", organizationName: "Own ${u}" }) { accessToken } }`, { e: email }, '');
      await ok(`mutation($e: String!) { inviteMember(email: $e, name: "Member ${u}", role: MEMBER) { role } }`, { e: email }, owner);
      const l = await ok(`mutation($e: String!, $o: ID!) { login(email: $e, password: "correct horse battery", organizationId: $o) { accessToken } }`, { e: email, o: a.signUp.organization.id }, '');
      members.push(l.login.accessToken as string);
    }
    const c = await ok(`mutation { createCustomer(input: { name: "Initech", plan: "growth", mrr: 100 }) { id } }`, {}, owner);
    const task = await ok(`mutation($c: ID!) { createTask(input: { title: "bench", customerId: $c }) { id } }`, { c: c.createCustomer.id }, owner);
    const taskId = task.createTask.id as string;

    const gw = t.stack.processes.find((p) => p.name === 'gateway')!;
    const rssBefore = treeRssKb(gw.child.pid!);
    const url = t.gatewayUrl.replace(/^http/, 'ws');
    const query = `subscription($id: ID) { taskChanged(taskId: $id) { cursor kind task { id title updatedAt customer { name } } } }`;
    const latencies: number[] = [];
    const received = new Map<string, number>(); // cursor → deliveries
    let connected = 0;
    let failed = 0;
    const t0 = Date.now();
    const open = (i: number) =>
      new Promise<void>((resolve) => {
        const ws = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false });
        sockets.push(ws);
        const token = members.length > 0 ? members[i % members.length]! : i % 10 === 9 ? viewer : owner; // two permission sets
        ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
        ws.on('message', (raw) => {
          const m = JSON.parse(raw.toString());
          if (m.type === 'connection_ack') {
            ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables: { id: taskId } } }));
            connected++;
            resolve();
          } else if (m.type === 'next') {
            const ev = m.payload.data?.taskChanged;
            if (!ev) return;
            latencies.push(Date.now() - Date.parse(ev.task.updatedAt));
            received.set(ev.cursor, (received.get(ev.cursor) ?? 0) + 1);
          }
        });
        ws.on('error', () => {
          failed++;
          resolve();
        });
        ws.on('close', () => resolve());
      });
    for (let i = 0; i < N && Date.now() < deadline - 90_000; i += 250) {
      await Promise.all(Array.from({ length: Math.min(250, N - i) }, (_, k) => open(i + k)));
    }
    const rampS = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 2_000)); // subscriptions registered
    const rssHeld = treeRssKb(gw.child.pid!);

    let version = 2;
    for (let e = 0; e < EVENTS && Date.now() < deadline - 30_000; e++) {
      const before = [...received.values()].reduce((x, y) => x + y, 0);
      await ok(`mutation($id: ID!, $v: Int!) { updateTask(id: $id, expectedVersion: $v, input: { title: "bench ${e}" }) { version } }`, { id: taskId, v: version - 1 }, owner);
      version++;
      const until = Date.now() + 15_000;
      while (Date.now() < until && [...received.values()].reduce((x, y) => x + y, 0) < before + connected) await new Promise((r) => setTimeout(r, 20));
    }
    const deliveries = [...received.values()].reduce((x, y) => x + y, 0);
    const expected = received.size * connected;
    for (const ws of sockets) ws.terminate();
    await t.stop();
    const log = readFileSync(path.join(t.logDir, 'gateway.log'), 'utf8');
    const statsLine = log.split('\n').reverse().find((l) => l.includes('subscriptionStats'));
    const stats = statsLine ? (JSON.parse(statsLine).subscriptionStats as { deliveries: number; resolutions: number; lookups: number }) : null;

    console.log(`| metric | value |\n|---|---|`);
    console.log(`| subscribers held by one gateway process | ${connected} of ${N} attempted (${failed} failed), ramp ${rampS.toFixed(1)} s |`);
    console.log(`| events published (updateTask through the gateway) | ${received.size} |`);
    console.log(`| deliveries received / expected | ${deliveries} / ${expected} (${((100 * deliveries) / Math.max(1, expected)).toFixed(2)} %) |`);
    console.log(`| delivery latency commit → client p50 / p99 / max | ${pct(latencies, 50)} ms / ${pct(latencies, 99)} ms / ${pct(latencies, 100)} ms |`);
    console.log(`| gateway RSS before / with subscribers | ${(rssBefore / 1024).toFixed(0)} MiB / ${(rssHeld / 1024).toFixed(0)} MiB |`);
    console.log(`| memory per subscriber (RSS delta / N) | ${(((rssHeld - rssBefore) * 1024) / Math.max(1, connected) / 1024).toFixed(1)} KiB |`);
    if (stats) {
      console.log(`| gateway resolutions / deliveries / lookup operations | ${stats.resolutions} / ${stats.deliveries} / ${stats.lookups} |`);
      console.log(`| resolution dedup ratio (deliveries per resolution) | ${(stats.deliveries / Math.max(1, stats.resolutions)).toFixed(0)}× |`);
      console.log(`| lookup operations per event | ${(stats.lookups / Math.max(1, received.size)).toFixed(2)} |`);
    }
    console.log(
      USERS > 0
        ? `\n(${USERS} MEMBER users, each with their own login, subscribers spread over them; one upstream JetStream consumer per org subject)`
        : `\n(two permission sets: 90 % OWNER, 10 % VIEWER tokens; one upstream JetStream consumer per org subject)`,
    );
  } finally {
    for (const ws of sockets) ws.terminate();
    await t.stop().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
