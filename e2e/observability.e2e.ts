/**
 * Issue 7 observability, against the whole stack as processes:
 * - every process (gateway + four subgraphs) serves Prometheus /metrics with the dashboard's metric names, and the
 *   values MOVE under traffic (operations, subgraph fetches, plan cache hits, events, pool gauges, DataLoader batches);
 * - no password, token or API key secret reaches any process log (signUp, login, refresh, createApiKey, key use),
 *   with LOG_LEVEL=debug so the most verbose lines are checked too.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, gql, gqlOk } from '../scripts/lib/graphql-client';
import { startTestStack, type TestStack } from './support/test-stack';

const SERVICES = ['identity', 'tasks', 'customers', 'agents'] as const;
const PASSWORD = 'obs-secret-passphrase-5150';
let t: TestStack;
let token: string;

beforeAll(async () => {
  t = await startTestStack({ extraEnv: { LOG_LEVEL: 'debug' } });
}, 120_000);
afterAll(async () => {
  await t?.stop();
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
    // reuse of a spent refresh token (revokes the family): an error path that must not log the token either
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
