/**
 * Issue 7 observability, against the whole stack as processes:
 * - every process (gateway + four subgraphs) serves Prometheus /metrics with the dashboard's metric names, and the
 *   values MOVE under traffic (operations, subgraph fetches, plan cache hits, events, pool gauges, DataLoader batches);
 * - no password, token or API key secret reaches any process log (signUp, login, refresh, createApiKey, key use),
 *   with LOG_LEVEL=debug so the most verbose lines are checked too;
 * - OpenTelemetry traces (every process exports OTLP/JSON to a collector in this test) link a client's mutation
 *   through the gateway, the subgraph, the outbox relay's PRODUCER span, the reacting service's CONSUMER span, its
 *   SQL, and the event that reaction appends into the next service — one trace across processes and NATS.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, gql, gqlOk } from '../scripts/lib/graphql-client';
import { startTestStack, type TestStack } from './support/test-stack';

const SERVICES = ['identity', 'tasks', 'customers', 'agents'] as const;
const PASSWORD = 'obs-secret-passphrase-5150';
let t: TestStack;
let token: string;

/** A span as OTLP/JSON carries it (ids in hex), with the exporting process's service.name. */
interface OtlpSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number; // OTLP: 2 SERVER, 3 CLIENT, 4 PRODUCER, 5 CONSUMER
  attributes: Record<string, unknown>;
  status?: { code?: number };
}
type OtlpValue = { stringValue?: string; intValue?: number | string; boolValue?: boolean; doubleValue?: number };
type OtlpAttr = { key: string; value: OtlpValue };
const spans: OtlpSpan[] = [];
let collector: Server;

/** The smallest OTLP/HTTP (JSON) trace receiver: what @opentelemetry/exporter-trace-otlp-http posts to /v1/traces. */
async function startCollector(): Promise<string> {
  const attrs = (list: OtlpAttr[] = []) =>
    Object.fromEntries(list.map((a) => [a.key, a.value.stringValue ?? (a.value.intValue !== undefined ? Number(a.value.intValue) : (a.value.boolValue ?? a.value.doubleValue))]));
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans?: Array<{ resource?: { attributes?: OtlpAttr[] }; scopeSpans?: Array<{ spans?: Array<Omit<OtlpSpan, 'service' | 'attributes'> & { attributes?: OtlpAttr[] }> }> }>;
        };
        for (const rs of body.resourceSpans ?? []) {
          const service = String(attrs(rs.resource?.attributes)['service.name'] ?? '');
          for (const ss of rs.scopeSpans ?? []) for (const sp of ss.spans ?? []) spans.push({ ...sp, service, attributes: attrs(sp.attributes) });
        }
      } catch {
        /* not JSON: ignored, the assertions will say what is missing */
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  const otlp = await startCollector();
  // Tracing on in every process; spans are exported every 200 ms instead of the SDK's 5 s.
  t = await startTestStack({ extraEnv: { LOG_LEVEL: 'debug', OTEL_EXPORTER_OTLP_ENDPOINT: otlp, OTEL_BSP_SCHEDULE_DELAY: '200' } });
}, 120_000);
afterAll(async () => {
  await t?.stop();
  collector?.close();
});

const baseOf = (graphqlUrl: string) => graphqlUrl.replace(/\/graphql$/, '');
const processUrl = (name: string) => baseOf(name === 'gateway' ? t.gatewayUrl : t.stack.serviceUrl(name as (typeof SERVICES)[number]));

/** Sum of a metric's samples whose labels contain every `match` pair. */
async function metric(proc: string, name: string, match: Record<string, string> = {}): Promise<number | null> {
  const res = await fetch(`${processUrl(proc)}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  let total: number | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) total = (total ?? 0) + Number(m[4]);
  }
  return total;
}

describe('metrics on every process move under traffic', () => {
  const before: Record<string, number | null> = {};
  const probes: Array<[string, string, Record<string, string>?]> = [
    ['gateway', 'cos_graphql_operation_duration_seconds_count', { operation: 'ObsTasks' }],
    ['gateway', 'cos_subgraph_fetch_duration_seconds_count'],
    ['gateway', 'cos_query_plan_cache_total', { result: 'hit' }],
    ['identity', 'cos_graphql_operation_duration_seconds_count'],
    ['identity', 'cos_events_published_total'],
    ['tasks', 'cos_graphql_operation_duration_seconds_count'],
    ['tasks', 'cos_events_published_total'],
    ['customers', 'cos_graphql_operation_duration_seconds_count'],
    ['customers', 'cos_dataloader_batch_size_count'],
    ['identity', 'cos_dataloader_batch_size_count', { loader: 'user' }],
    ['tasks', 'cos_dataloader_batch_size_count', { loader: 'commentsByTask' }],
    ['agents', 'cos_dataloader_batch_size_count', { loader: 'runsByTask' }],
    ['agents', 'cos_graphql_operation_duration_seconds_count'],
    ['agents', 'cos_events_processed_total'],
  ];

  it('exposes the named metrics on all five processes', async () => {
    for (const proc of ['gateway', ...SERVICES]) {
      const res = await fetch(`${processUrl(proc)}/metrics`);
      expect(res.status, proc).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/plain/);
      const text = await res.text();
      for (const name of ['cos_graphql_operation_duration_seconds', 'cos_graphql_errors_total', 'cos_rate_limited_total', 'cos_active_subscriptions', 'process_cpu_seconds_total']) {
        expect(text, `${proc} ${name}`).toContain(`# TYPE ${name}`);
      }
      if (proc !== 'gateway') {
        for (const name of ['cos_pg_pool_runtime_connections', 'cos_pg_pool_system_connections', 'cos_event_lag_seconds', 'cos_dead_letters_total', 'cos_events_published_total', 'cos_dataloader_batch_size']) {
          expect(text, `${proc} ${name}`).toContain(`# TYPE ${name}`);
        }
        expect(await metric(proc, 'cos_pg_pool_runtime_connections', { state: 'total' }), proc).not.toBeNull();
      } else {
        for (const name of ['cos_subgraph_fetch_duration_seconds', 'cos_query_plan_cache_total']) expect(text).toContain(`# TYPE ${name}`);
      }
    }
    for (const [proc, name, match] of probes) before[`${proc} ${name}`] = (await metric(proc, name, match)) ?? 0;
  });

  it('values move after sign-up, writes and a repeated cross-subgraph query', async () => {
    const s = await gqlOk(
      t.gatewayUrl,
      `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken user { id } } }`,
      { input: { email: 'metrics@obs.test', password: PASSWORD, name: 'Grace Hopper', organizationName: 'Metrics Org' } },
    );
    token = s.signUp.accessToken;
    const userId = s.signUp.user.id as string;
    const c = await gqlOk(t.gatewayUrl, `mutation { createCustomer(input: { name: "Initech", plan: "pro", mrr: 99 }) { id } }`, {}, { token });
    for (let i = 0; i < 3; i++) {
      await gqlOk(
        t.gatewayUrl,
        `mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }`,
        { input: { title: `Observe ${i}`, customerId: c.createCustomer.id, assigneeId: userId } },
        { token },
      );
    }
    const query = `query ObsTasks { tasks(first: 20) { edges { node { title assignee { ... on User { name } } customer { name healthScore { score } } agentRuns { id } comments { id } } } } }`;
    for (let i = 0; i < 3; i++) {
      const r = await gql(t.gatewayUrl, query, {}, { token });
      expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    }
    // events flow asynchronously (OrganizationCreated → agents creates its seven agents)
    await eventually(async () => ((await metric('agents', 'cos_events_processed_total')) ?? 0) > (before['agents cos_events_processed_total'] ?? 0), 15_000);
    await eventually(async () => ((await metric('tasks', 'cos_events_published_total')) ?? 0) > (before['tasks cos_events_published_total'] ?? 0), 15_000);

    for (const [proc, name, match] of probes) {
      const now = (await metric(proc, name, match)) ?? 0;
      expect(now, `${proc} ${name} ${JSON.stringify(match ?? {})}`).toBeGreaterThan(before[`${proc} ${name}`] ?? 0);
    }
    // the gateway times the named operation, and subgraph fetches report an outcome per subgraph
    expect(await metric('gateway', 'cos_graphql_operation_duration_seconds_count', { operation: 'ObsTasks', outcome: 'ok' })).toBeGreaterThanOrEqual(3);
    expect(await metric('gateway', 'cos_subgraph_fetch_duration_seconds_count', { outcome: 'ok' })).toBeGreaterThan(3);
  });
});

describe('logs carry no secrets', () => {
  it('signUp / login / refresh / createApiKey / key use: no password, token or key secret in any process log', async () => {
    const secrets: string[] = [PASSWORD];
    const su = await gqlOk(
      t.gatewayUrl,
      `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken organization { id } } }`,
      { input: { email: 'secrets@obs.test', password: PASSWORD, name: 'Secret Keeper', organizationName: 'Secrets Org' } },
    );
    secrets.push(su.signUp.accessToken, su.signUp.refreshToken);
    const li = await gqlOk(
      t.gatewayUrl,
      `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken } }`,
      { e: 'secrets@obs.test', p: PASSWORD },
    );
    secrets.push(li.login.accessToken, li.login.refreshToken);
    // a wrong password is logged as a failure, never with the attempted password
    const wrong = await gql(t.gatewayUrl, `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }`, {
      e: 'secrets@obs.test',
      p: `${PASSWORD}-wrong`,
    });
    expect(wrong.errors?.length).toBeGreaterThan(0);
    secrets.push(`${PASSWORD}-wrong`);
    const rt = await gqlOk(t.gatewayUrl, `mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken refreshToken } }`, {
      r: li.login.refreshToken,
    });
    secrets.push(rt.refreshToken.accessToken, rt.refreshToken.refreshToken);
    const key = await gqlOk(
      t.gatewayUrl,
      `mutation { createApiKey(name: "obs partner", scopes: ["tasks:read"]) { secret apiKey { id } } }`,
      {},
      { token: rt.refreshToken.accessToken },
    );
    secrets.push(key.createApiKey.secret);
    // use the key (gateway → identity verification) and the access token
    await gql(t.gatewayUrl, `{ tasks(first: 1) { edges { node { id } } } }`, {}, { apiKey: key.createApiKey.secret });
    await gql(t.gatewayUrl, `{ me { id } }`, {}, { token: rt.refreshToken.accessToken });
    // reuse of a spent refresh token whose successor was used (revokes the family): an error path that must not log
    // the token either
    const rt2 = await gqlOk(t.gatewayUrl, `mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken refreshToken } }`, {
      r: rt.refreshToken.refreshToken,
    });
    secrets.push(rt2.refreshToken.accessToken, rt2.refreshToken.refreshToken);
    await gql(t.gatewayUrl, `mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken } }`, { r: li.login.refreshToken });
    await new Promise((r) => setTimeout(r, 500)); // let the processes flush their log lines

    expect(secrets.every((s) => typeof s === 'string' && s.length >= 16)).toBe(true);
    let lines = 0;
    for (const proc of ['gateway', ...SERVICES]) {
      const log = readFileSync(path.join(t.logDir, `${proc}.log`), 'utf8');
      lines += log.split('\n').length;
      for (const secret of secrets) {
        expect(log.includes(secret), `${proc}.log contains a secret (${secret.slice(0, 6)}…)`).toBe(false);
        // JWTs: also their signature part alone (a log could cut the header off)
        const sig = secret.split('.')[2];
        if (sig && sig.length >= 16) expect(log.includes(sig), `${proc}.log contains a JWT signature`).toBe(false);
      }
    }
    expect(lines).toBeGreaterThan(20); // the logs were really written (debug level)
  });

  it('log lines are JSON with service and correlation ids', () => {
    const log = readFileSync(path.join(t.logDir, 'tasks.log'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'));
    expect(log.length).toBeGreaterThan(0);
    const parsed = log.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.every((p) => p.service === 'tasks')).toBe(true);
  });
});

describe('one trace across processes and NATS', () => {
  it('mutation → gateway → tasks → relay PRODUCER → agents CONSUMER (+ its SQL) → the run it queues → the next consumer', async () => {
    const s = await gqlOk(
      t.gatewayUrl,
      `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`,
      { input: { email: 'traces@obs.test', password: PASSWORD, name: 'Trace Reader', organizationName: 'Trace Org' } },
    );
    const tok = s.signUp.accessToken as string;
    // OrganizationCreated → agents creates the seven specialists (a reaction of its own)
    const agents = await eventually(async () => {
      const r = await gqlOk(t.gatewayUrl, `{ agents { id } }`, {}, { token: tok });
      return r.agents.length >= 7 ? (r.agents as Array<{ id: string }>) : null;
    }, 20_000);
    const traceId = randomBytes(16).toString('hex');
    // tasks learns the agents from their events (its directory): until then the assignee is refused
    const created = await eventually(async () => {
      const r = await gql(
        t.gatewayUrl,
        `mutation TraceMe($input: CreateTaskInput!) { createTask(input: $input) { id } }`,
        { input: { title: 'Traced task', assigneeId: agents[0]!.id } },
        { token: tok, headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` } },
      );
      return r.errors ? null : r;
    }, 20_000, 250);
    expect(created.data?.createTask?.id).toBeTruthy();

    const inTrace = () => spans.filter((x) => x.traceId === traceId);
    const parentOf = (x: OtlpSpan) => inTrace().find((p) => p.spanId === x.parentSpanId);
    const CONSUMER = 5;
    const PRODUCER = 4;
    // the agents consumer reacted (its span), queued a run whose event was published (a PRODUCER span under the
    // consumer span) and consumed by another service (a CONSUMER span under that)
    const chain = await eventually(async () => {
      const consume = inTrace().find((x) => x.service === 'agents' && x.kind === CONSUMER && / process$/.test(x.name) && x.attributes['cos.event.type'] === 'TaskCreated');
      if (!consume) return null;
      const produced = inTrace().find((x) => x.service === 'agents' && x.kind === PRODUCER && x.parentSpanId === consume.spanId);
      if (!produced) return null;
      const next = inTrace().find((x) => x.kind === CONSUMER && x.parentSpanId === produced.spanId);
      return next ? { consume, produced, next } : null;
    }, 30_000, 250).catch(() => {
      throw new Error(`incomplete trace: ${JSON.stringify(inTrace().map((x) => [x.service, x.kind, x.name]))}`);
    });

    // the triggering side: the client's trace continues in the gateway, into the tasks subgraph, whose relay
    // published TaskCreated as a PRODUCER span in the same trace
    const taskPublish = parentOf(chain.consume)!;
    expect(taskPublish).toMatchObject({ service: 'tasks', kind: PRODUCER });
    expect(taskPublish.name).toMatch(/\.tasks\.Task\.TaskCreated publish$/);
    const tasksServer = parentOf(taskPublish)!;
    expect(tasksServer).toMatchObject({ service: 'tasks', kind: 2 });
    expect(inTrace().some((x) => x.service === 'gateway' && x.name === 'mutation TraceMe')).toBe(true);

    // the consumer span itself: messaging attributes, not an error
    expect(chain.consume.name).toBe(`${t.prefix}.*.tasks.> process`);
    expect(chain.consume.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.consumer.group.name': 'agents-tasks',
      'messaging.nats.message.delivery_count': 1,
      'cos.consumer.outcome': 'processed',
    });
    expect(String(chain.consume.attributes['messaging.destination.name'])).toMatch(/\.tasks\.Task\.TaskCreated$/);
    expect(chain.consume.attributes['messaging.message.id']).toEqual(expect.stringMatching(/^[0-9a-f-]{36}$/));
    expect(chain.consume.status?.code ?? 0).not.toBe(2);
    // the reaction's SQL (inbox, the known-task upsert, the run's reads and appends) are children of the consumer span
    const reactionSql = inTrace().filter((x) => x.service === 'agents' && x.parentSpanId === chain.consume.spanId && x.name.startsWith('sql '));
    expect(reactionSql.map((x) => x.name)).toEqual(expect.arrayContaining(['sql insertInbox', 'sql upsertKnownTask', 'sql getAgentInOrg']));
    // and the event it appended carried the consumer span's context onwards
    expect(chain.produced.name).toMatch(/\.agents\.AgentRun\.\w+ publish$/);
    expect(chain.next.attributes['messaging.message.id']).toBe(chain.produced.attributes['messaging.message.id']);
  }, 90_000);
});
