/**
 * The soak and chaos load: virtual users doing what people and partners do, through the gateway, run as a CHILD
 * process (`tsx bench/lib/mixed-load.ts <config.json> <result.json>`) so its CPU never counts as the stack's.
 *
 * Each user signs in (argon2 on identity, ramped), then loops: think (exponential, mean `thinkMs`), pick an operation by
 * weight, send it, record its latency and outcome. Reads: task pages, task details (the version is kept for the
 * next edit), customer overviews and details, search. Writes: updateTask with the version last read (optimistic lock:
 * a CONFLICT re-reads once and retries, as the console does), createTask, addComment, recordSignal. Sessions: a
 * new login now and then, refreshToken (rotation) before expiry and at random. A share of users hold one graphql-ws
 * `taskChanged` subscription (org-wide) and count the events received; after a dropped socket they resume with the
 * last cursor (`after`), so every event must still arrive exactly once. Partners run their trusted documents by id
 * with their API key. HTTP goes through one undici Pool per gateway; with several gateways a refused connection
 * moves the user to the next one (client-side failover).
 *
 * Outcomes are `ok`, a GraphQL error code (first error), `HTTP_<status>`, `TIMEOUT`, or a socket error code.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Pool, errors as undiciErrors } from 'undici';
import WebSocket from 'ws';

export interface MixUser {
  email: string;
  password: string;
}
export interface MixPartner {
  apiKey: string;
  /** documentId (sha256 hex) of each trusted document the partner runs, with its variables. */
  documents: Array<{ id: string; name: string; variables?: Record<string, unknown> }>;
}
export interface MixConfig {
  gateways: string[];
  orgId: string;
  users: MixUser[];
  partners: MixPartner[];
  taskIds: string[];
  customerIds: string[];
  durationMs: number;
  /** Users start spread over this time (their sign-in is part of the ramp, not of the measured window). */
  rampMs: number;
  thinkMs: number;
  /** Share of users holding a taskChanged subscription. */
  subscribeShare: number;
  /** Per-request budget before the client gives up (TIMEOUT). */
  requestTimeoutMs: number;
  /** Each user sends X-Forwarded-For 10.x.y.z (the gateway trusts loopback as a proxy): per-IP limits as in production. */
  forwardedFor: boolean;
  /** Worker index (the parent may run two of these processes). */
  worker: number;
}

export interface Sample {
  kind: string;
  ms: number;
  outcome: string;
  /** Only while measuring (after the ramp). */
  measured: boolean;
  at: number;
}

export interface SubscriberReport {
  user: number;
  received: number;
  duplicates: number;
  reconnects: number;
  /** Cursors (JetStream sequences) seen, for the parent's expected-vs-received check. */
  cursors: string[];
  subscribedAt: number;
  firstError: string | null;
  /** Receipt minus the task's updatedAt (written in the committing transaction), for CREATED/UPDATED events, ms. */
  lagMs: number[];
  /** Close codes of dropped sockets. */
  closeCodes: number[];
  /** `next` payloads carrying errors instead of an event (the gateway could not resolve one). */
  errorPayloads: number;
}

export interface MixResult {
  worker: number;
  startedAt: number;
  measureFrom: number;
  endedAt: number;
  /** kind → latencies (ms) of measured requests, and outcome counts. */
  samples: Array<[kind: string, ms: number, outcome: string, measured: 0 | 1, at: number]>;
  subscribers: SubscriberReport[];
  failovers: number;
  firstFailures: Record<string, string>;
  /** This process's own CPU (user + system) over the measured window, ms. */
  cpuMs: number;
}

const TASK_PAGE = `query SoakTasksPage { tasks(first: 20) { totalCount edges { node { id title status priority version
  assignee { __typename ... on User { id name } ... on Agent { id name kind } } customer { id name healthScore { score grade } } } } } }`;
const TASK_DETAIL = `query SoakTask($id: ID!) { task(id: $id) { id title description status priority version
  comments { id body author { id name } } customer { id name churnRisk } } }`;
const CUSTOMERS_PAGE = `query SoakCustomers { customers(first: 20) { totalCount edges { node { id name churnRisk healthScore { score grade } } } } }`;
const CUSTOMER_DETAIL = `query SoakCustomer($id: ID!) { customer(id: $id) { id name plan churnRisk healthScore { score grade } } }`;
const SEARCH = `query SoakSearch($q: String!) { search(query: $q, first: 10) { totalCount edges { node { type id rank title } } } }`;
const UPDATE_TASK = `mutation SoakUpdate($id: ID!, $v: Int!, $input: UpdateTaskInput!) { updateTask(id: $id, expectedVersion: $v, input: $input) { id version } }`;
const CREATE_TASK = `mutation SoakCreate($input: CreateTaskInput!) { createTask(input: $input) { id version } }`;
const ADD_COMMENT = `mutation SoakComment($t: ID!, $b: String!) { addComment(taskId: $t, body: $b) { id } }`;
const RECORD_SIGNAL = `mutation SoakSignal($id: ID!, $input: SignalInput!) { recordSignal(customerId: $id, input: $input) { score } }`;
const LOGIN = `mutation SoakLogin($e: String!, $p: String!, $o: ID) { login(email: $e, password: $p, organizationId: $o) { accessToken refreshToken } }`;
const REFRESH = `mutation SoakRefresh($r: String!) { refreshToken(refreshToken: $r) { accessToken refreshToken } }`;
const SUBSCRIPTION = `subscription SoakTaskChanged($after: String) { taskChanged(after: $after) { cursor kind task { id version updatedAt } } }`;

/** Operation weights per user iteration (people); partners run their documents only. */
export const MIX: ReadonlyArray<[kind: string, weight: number]> = [
  ['tasksPage', 22],
  ['taskDetail', 12],
  ['customersPage', 10],
  ['customerDetail', 6],
  ['search', 8],
  ['updateTask', 9],
  ['createTask', 4],
  ['addComment', 9],
  ['recordSignal', 4],
  ['refresh', 3],
  ['login', 1],
];
const TOTAL_WEIGHT = MIX.reduce((a, [, w]) => a + w, 0);
const SEARCH_TERMS = ['bench', 'task', 'follow up', 'customer', 'churn', 'soak', '"bench task"', 'comment -draft'];
const SIGNALS = ['PRODUCT_USAGE', 'NPS', 'SUPPORT_TICKET', 'PAYMENT_FAILED', 'LOGIN'] as const;
const PRIORITIES = ['LOW', 'MEDIUM', 'HIGH', 'URGENT'];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const expo = (mean: number) => -Math.log(1 - Math.random()) * mean;

function signalValue(kind: (typeof SIGNALS)[number]): number {
  switch (kind) {
    case 'PRODUCT_USAGE':
      return Math.round(Math.random() * 100) / 100;
    case 'NPS':
      return Math.floor(Math.random() * 11);
    case 'SUPPORT_TICKET':
      return 1 + Math.floor(Math.random() * 4);
    case 'PAYMENT_FAILED':
      return 1;
    case 'LOGIN':
      return 1 + Math.floor(Math.random() * 5);
  }
}

interface Answer {
  outcome: string;
  data: any;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

export async function runMix(cfg: MixConfig): Promise<MixResult> {
  const pools = cfg.gateways.map((g) => {
    const u = new URL(g);
    return {
      path: u.pathname,
      wsUrl: g.replace(/^http/, 'ws'),
      pool: new Pool(u.origin, { connections: Math.max(16, cfg.users.length + cfg.partners.length), pipelining: 1, keepAliveTimeout: 30_000 }),
    };
  });
  const startedAt = Date.now();
  const measureFrom = startedAt + cfg.rampMs;
  const endAt = measureFrom + cfg.durationMs;
  const samples: MixResult['samples'] = [];
  const firstFailures: Record<string, string> = {};
  let failovers = 0;
  const subscribers: SubscriberReport[] = [];
  const sockets = new Set<WebSocket>();
  let lastDelivery = 0;

  const record = (kind: string, ms: number, outcome: string, at: number) => {
    samples.push([kind, Math.round(ms * 10) / 10, outcome, at >= measureFrom ? 1 : 0, at]);
  };

  /** One HTTP GraphQL request with failover on refused connections (the request never reached a gateway). */
  async function send(gwIndex: { i: number }, body: unknown, auth: string | null, xff: string | null): Promise<Answer> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
    };
    if (auth) headers.authorization = auth;
    if (xff) headers['x-forwarded-for'] = xff;
    const payload = JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      const gw = pools[gwIndex.i % pools.length]!;
      try {
        const res = await gw.pool.request({
          path: gw.path,
          method: 'POST',
          headers,
          body: payload,
          headersTimeout: cfg.requestTimeoutMs,
          bodyTimeout: cfg.requestTimeoutMs,
        });
        const text = await res.body.text();
        let json: { data?: unknown; errors?: Answer['errors'] } | null = null;
        try {
          json = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        const code = json?.errors?.[0]?.extensions?.code;
        if (json?.errors?.length) {
          const message = json.errors[0]!.message;
          const outcome = typeof code === 'string' ? code : `HTTP_${res.statusCode}`;
          return { outcome: outcome === 'INTERNAL_SERVER_ERROR' && /unavailable|did not answer in time/i.test(message) ? 'UNAVAILABLE' : outcome, data: json.data, errors: json.errors };
        }
        if (res.statusCode !== 200 || !json) return { outcome: `HTTP_${res.statusCode}`, data: null };
        return { outcome: 'ok', data: json.data };
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
        const code = e.code ?? e.cause?.code ?? e.name;
        // Nothing was sent to a refused socket: moving to the next gateway is safe even for a mutation.
        if (code === 'ECONNREFUSED' && pools.length > 1 && attempt < pools.length) {
          failovers++;
          gwIndex.i++;
          continue;
        }
        if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) return { outcome: 'TIMEOUT', data: null };
        return { outcome: String(code ?? 'NETWORK_ERROR'), data: null };
      }
    }
  }

  async function user(index: number) {
    const u = cfg.users[index]!;
    const gw = { i: index };
    const xff = cfg.forwardedFor ? `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}` : null;
    let access = '';
    let refresh = '';
    const versions = new Map<string, number>();
    const myTasks: string[] = [];
    await sleep((index / Math.max(1, cfg.users.length)) * cfg.rampMs * 0.8);

    const timed = async (kind: string, body: unknown, auth: string | null = `Bearer ${access}`): Promise<Answer> => {
      const t0 = performance.now();
      const at = Date.now();
      const a = await send(gw, body, auth, xff);
      record(kind, performance.now() - t0, a.outcome, at);
      if (a.outcome !== 'ok' && !firstFailures[`${kind}:${a.outcome}`]) {
        firstFailures[`${kind}:${a.outcome}`] = JSON.stringify(a.errors?.[0] ?? a.outcome).slice(0, 300);
      }
      return a;
    };
    const login = async (): Promise<boolean> => {
      const a = await timed('login', { query: LOGIN, variables: { e: u.email, p: u.password, o: cfg.orgId } }, null);
      if (a.outcome !== 'ok') return false;
      access = a.data.login.accessToken;
      refresh = a.data.login.refreshToken;
      return true;
    };
    const doRefresh = async () => {
      const a = await timed('refresh', { query: REFRESH, variables: { r: refresh } }, null);
      if (a.outcome === 'ok') {
        access = a.data.refreshToken.accessToken;
        refresh = a.data.refreshToken.refreshToken;
      } else if (a.outcome === 'UNAUTHENTICATED') await login();
    };

    for (let tries = 0; !(await login()); tries++) {
      if (Date.now() > endAt) return;
      await sleep(Math.min(5_000, 200 * 2 ** tries) * (0.5 + Math.random()));
    }
    let tokenAt = Date.now();
    if (index < Math.round(cfg.users.length * cfg.subscribeShare)) subscribe(index, () => access);

    const readTask = async (id: string) => {
      const a = await timed('taskDetail', { query: TASK_DETAIL, variables: { id } });
      if (a.outcome === 'ok' && a.data.task) versions.set(id, a.data.task.version);
      return a;
    };

    while (Date.now() < endAt) {
      await sleep(Math.min(expo(cfg.thinkMs), cfg.thinkMs * 6));
      if (Date.now() >= endAt) break;
      // Access tokens live 15 minutes: refresh well before, as the console does one minute ahead.
      if (Date.now() - tokenAt > 10 * 60_000) {
        await doRefresh();
        tokenAt = Date.now();
        continue;
      }
      let r = Math.random() * TOTAL_WEIGHT;
      let kind = MIX[0]![0];
      for (const [k, w] of MIX) {
        if ((r -= w) < 0) {
          kind = k;
          break;
        }
      }
      const taskId = myTasks.length && Math.random() < 0.3 ? pick(myTasks) : pick(cfg.taskIds);
      switch (kind) {
        case 'tasksPage':
          await timed(kind, { query: TASK_PAGE });
          break;
        case 'taskDetail':
          await readTask(taskId);
          break;
        case 'customersPage':
          await timed(kind, { query: CUSTOMERS_PAGE });
          break;
        case 'customerDetail':
          await timed(kind, { query: CUSTOMER_DETAIL, variables: { id: pick(cfg.customerIds) } });
          break;
        case 'search':
          await timed(kind, { query: SEARCH, variables: { q: pick(SEARCH_TERMS) } });
          break;
        case 'updateTask': {
          if (!versions.has(taskId)) await readTask(taskId);
          const v = versions.get(taskId);
          if (v === undefined) break;
          const input = Math.random() < 0.5 ? { priority: pick(PRIORITIES) } : { description: `edited by user ${index} at ${Date.now()}` };
          const a = await timed(kind, { query: UPDATE_TASK, variables: { id: taskId, v, input } });
          if (a.outcome === 'ok') versions.set(taskId, a.data.updateTask.version);
          else if (a.outcome === 'CONFLICT') {
            // Someone else edited it: show them the task as it is now, then apply the change on top (once).
            await readTask(taskId);
            const v2 = versions.get(taskId);
            if (v2 !== undefined) {
              const b = await timed('updateTaskRetry', { query: UPDATE_TASK, variables: { id: taskId, v: v2, input } });
              if (b.outcome === 'ok') versions.set(taskId, b.data.updateTask.version);
            }
          }
          break;
        }
        case 'createTask': {
          const a = await timed(kind, {
            query: CREATE_TASK,
            variables: { input: { title: `Soak task by user ${index}`, description: 'created under load', priority: pick(PRIORITIES), customerId: pick(cfg.customerIds) } },
          });
          if (a.outcome === 'ok') {
            myTasks.push(a.data.createTask.id);
            versions.set(a.data.createTask.id, a.data.createTask.version);
          }
          break;
        }
        case 'addComment':
          await timed(kind, { query: ADD_COMMENT, variables: { t: taskId, b: `comment by user ${index}` } });
          break;
        case 'recordSignal': {
          const k = pick(SIGNALS);
          await timed(kind, { query: RECORD_SIGNAL, variables: { id: pick(cfg.customerIds), input: { kind: k, value: signalValue(k) } } });
          break;
        }
        case 'refresh':
          await doRefresh();
          tokenAt = Date.now();
          break;
        case 'login':
          if (await login()) tokenAt = Date.now();
          break;
      }
    }
  }

  async function partner(index: number) {
    const p = cfg.partners[index]!;
    const gw = { i: index };
    await sleep(Math.random() * cfg.rampMs * 0.8);
    while (Date.now() < endAt) {
      await sleep(Math.min(expo(cfg.thinkMs), cfg.thinkMs * 6));
      if (Date.now() >= endAt) break;
      const doc = pick(p.documents);
      const t0 = performance.now();
      const at = Date.now();
      const a = await send(gw, { documentId: doc.id, variables: doc.variables ?? {} }, `ApiKey ${p.apiKey}`, null);
      record('partnerPersisted', performance.now() - t0, a.outcome, at);
      if (a.outcome !== 'ok' && !firstFailures[`partnerPersisted:${a.outcome}`]) {
        firstFailures[`partnerPersisted:${a.outcome}`] = JSON.stringify(a.errors?.[0] ?? a.outcome).slice(0, 300);
      }
    }
  }

  /** One graphql-ws subscription, resumed with the last cursor after a dropped socket, until the end. */
  function subscribe(index: number, token: () => string) {
    const rep: SubscriberReport = { user: index, received: 0, duplicates: 0, reconnects: 0, cursors: [], subscribedAt: 0, firstError: null, lagMs: [], closeCodes: [], errorPayloads: 0 };
    subscribers.push(rep);
    const seen = new Set<string>();
    let last: string | null = null;
    let gwi = index;
    const connect = () => {
      if (Date.now() >= endAt) return;
      const ws = new WebSocket(pools[gwi % pools.length]!.wsUrl, 'graphql-transport-ws', { perMessageDeflate: false });
      sockets.add(ws);
      let acked = false;
      ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token()}` } })));
      ws.on('message', (raw) => {
        const m = JSON.parse(raw.toString());
        if (m.type === 'connection_ack') {
          acked = true;
          ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: SUBSCRIPTION, variables: { after: last } } }));
          if (!rep.subscribedAt) rep.subscribedAt = Date.now();
        } else if (m.type === 'next') {
          const ev = m.payload?.data?.taskChanged;
          if (!ev) {
            rep.errorPayloads++;
            rep.firstError ??= JSON.stringify(m.payload?.errors?.[0] ?? m.payload).slice(0, 200);
            return;
          }
          if (seen.has(ev.cursor)) rep.duplicates++;
          else {
            seen.add(ev.cursor);
            rep.cursors.push(ev.cursor);
          }
          rep.received++;
          lastDelivery = Date.now();
          last = ev.cursor;
          if ((ev.kind === 'UPDATED' || ev.kind === 'CREATED') && ev.task?.updatedAt) rep.lagMs.push(Date.now() - Date.parse(ev.task.updatedAt));
        } else if (m.type === 'error') {
          rep.firstError ??= JSON.stringify(m.payload).slice(0, 200);
        }
      });
      ws.on('error', (err) => {
        rep.firstError ??= `socket: ${(err as Error).message}`;
      });
      ws.on('close', (code) => {
        sockets.delete(ws);
        if (Date.now() >= endAt) return;
        rep.closeCodes.push(code);
        if (!acked && code !== 1000) gwi++; // refused or dropped before ack: try the other gateway
        rep.reconnects++;
        setTimeout(connect, 250 + Math.random() * 750);
      });
    };
    connect();
  }

  let cpuFrom: NodeJS.CpuUsage | null = null;
  let cpuMs = 0;
  const cpuTimers = [
    setTimeout(() => (cpuFrom = process.cpuUsage()), Math.max(0, measureFrom - Date.now())),
    setTimeout(() => {
      const u = process.cpuUsage(cpuFrom ?? undefined);
      cpuMs = (u.user + u.system) / 1000;
    }, Math.max(0, endAt - Date.now())),
  ];
  await Promise.all([...cfg.users.map((_, i) => user(i)), ...cfg.partners.map((_, i) => partner(i))]);
  if (!cpuMs) {
    const u = process.cpuUsage(cpuFrom ?? undefined);
    cpuMs = (u.user + u.system) / 1000;
  }
  cpuTimers.forEach(clearTimeout);
  // Let subscriptions receive the last events: until nothing arrived for 3 s (at most 60 s).
  const settleUntil = Date.now() + 60_000;
  do await sleep(1_000);
  while (subscribers.length > 0 && Date.now() - lastDelivery < 3_000 && Date.now() < settleUntil);
  for (const ws of sockets) ws.close(1000);
  await Promise.all(pools.map((p) => p.pool.close().catch(() => undefined)));
  return { worker: cfg.worker, startedAt, measureFrom, endedAt: Date.now(), samples, subscribers, failovers, firstFailures, cpuMs };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as MixConfig;
  runMix(cfg).then(
    (r) => {
      writeFileSync(process.argv[3]!, JSON.stringify(r));
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
