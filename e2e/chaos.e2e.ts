/**
 * A short chaos run (the small sibling of `pnpm chaos`): the stack on private Postgres/NATS/Redis servers, writers
 * creating tasks, comments and churn-risk episodes through the gateway, and meanwhile kill -9 of the tasks process
 * (its outbox relay, its churn-risk consumer, its subgraph) and a restart of NATS. Afterwards, drained: every
 * committed event was published exactly once, every reaction applied exactly once, every read model equals a
 * rebuild from the events, and the writers saw only retryable errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus } from '@cos/bus';
import { createLogger } from '@cos/logger';
import { checkPublishedOnce, checkReactionsOnce, checkRebuilds, waitDrained, type Check } from '../bench/lib/invariants';
import { startScratchServers, type ScratchServers } from '../bench/lib/scratch-servers';
import { gql } from '../scripts/lib/graphql-client';
import { startTestStack, type TestStack } from './support/test-stack';

let servers: ScratchServers;
let t: TestStack;
const savedEnv = { COS_PG_ADMIN_URL: process.env.COS_PG_ADMIN_URL, NATS_URL: process.env.NATS_URL, REDIS_URL: process.env.REDIS_URL };

beforeAll(async () => {
  servers = await startScratchServers({ maxConnections: 100 });
  Object.assign(process.env, servers.env);
  // Three writers in closed loops as one user would pass the per-user rate limit: it is not what is tested here.
  t = await startTestStack({ extraEnv: { LOG_LEVEL: 'warn', RATE_LIMIT_PER_USER: '1000000' } });
}, 120_000);

afterAll(async () => {
  await t?.stop().catch(() => undefined);
  await servers?.stop().catch(() => undefined);
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

/**
 * What a client may retry: no answer, HTTP 5xx, RATE_LIMITED, SERVICE_UNAVAILABLE, or a subgraph unreachable / not answering in time
 * (the wording of gateway and subgraphs for INTERNAL_SERVER_ERROR of that kind). Anything else is a bug.
 */
const retryable = (r: { status: number; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> } | Error) =>
  r instanceof Error ||
  r.status >= 500 ||
  (r.errors ?? []).every((e) => e.extensions?.code === 'RATE_LIMITED' || e.extensions?.code === 'SERVICE_UNAVAILABLE' || /service is unavailable|did not answer in time/.test(e.message));

describe('chaos: kill -9 tasks and restart NATS under writes', () => {
  it('keeps exactly-once publishing and reactions, read models equal to a rebuild, and only retryable errors', async () => {
    const su = await gql<{ signUp: { accessToken: string } }>(
      t.gatewayUrl,
      `mutation { signUp(input: { email: "chaos@e2e.test", password: "correct horse battery", name: "Chaos Owner", organizationName: "Chaos" }) { accessToken } }`,
    );
    expect(su.errors, t.logs()).toBeUndefined();
    const token = su.data!.signUp.accessToken;
    const call = (query: string, variables: Record<string, unknown> = {}) => gql(t.gatewayUrl, query, variables, { token, timeoutMs: 15_000 }).catch((e: Error) => e);

    const outcomes = { ok: 0, retryable: 0, other: [] as string[] };
    const note = (r: Awaited<ReturnType<typeof call>>) => {
      if (!(r instanceof Error) && r.status === 200 && !r.errors?.length) outcomes.ok++;
      else if (retryable(r)) outcomes.retryable++;
      else outcomes.other.push(r instanceof Error ? r.message : JSON.stringify(r.errors));
    };
    let stop = false;
    // Each writer: a customer with two failed payments (a churn-risk episode: tasks opens one follow-up task), then
    // tasks for it, each commented on.
    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const c = await call(`mutation($n: String!) { createCustomer(input: { name: $n, plan: "growth", mrr: 100 }) { id } }`, { n: `Chaos ${w}-${i}` });
        note(c);
        const customerId = c instanceof Error ? null : (c.data as { createCustomer?: { id: string } } | null)?.createCustomer?.id;
        if (!customerId) continue;
        for (let k = 0; k < 2 && !stop; k++) {
          note(await call(`mutation($id: ID!) { recordSignal(customerId: $id, input: { kind: PAYMENT_FAILED, value: 1 }) { score } }`, { id: customerId }));
        }
        const task = await call(`mutation($c: ID!) { createTask(input: { title: "chaos task", customerId: $c }) { id } }`, { c: customerId });
        note(task);
        const taskId = task instanceof Error ? null : (task.data as { createTask?: { id: string } } | null)?.createTask?.id;
        if (taskId) note(await call(`mutation($t: ID!) { addComment(taskId: $t, body: "under chaos") { id } }`, { t: taskId }));
      }
    };
    const writers = Promise.all([0, 1, 2].map(writer));

    await new Promise((r) => setTimeout(r, 4_000));
    const tasks = t.stack.processes.find((p) => p.name === 'tasks')!;
    const exited = new Promise<void>((r) => tasks.child.once('exit', () => r()));
    tasks.child.kill('SIGKILL');
    await exited;
    await t.stack.restartProcess('tasks');
    await new Promise((r) => setTimeout(r, 2_000));
    await servers.nats.restart({ downMs: 2_000 });
    await new Promise((r) => setTimeout(r, 5_000));
    stop = true;
    await writers;

    const bus = await connectBus({ servers: servers.nats.url, subjectPrefix: t.prefix, name: 'chaos-e2e', log: createLogger('chaos-e2e', 'silent') });
    const checks: Check[] = [];
    try {
      const drained = await waitDrained(t.db.adminUrl, bus, 45_000);
      expect(drained, t.logs()).toMatchObject({ unpublished: 0, pending: 0 });
      await t.stack.stop();
      const published = await checkPublishedOnce(t.db.adminUrl, bus);
      checks.push(...published.checks, ...(await checkReactionsOnce(t.db.adminUrl, bus, published.messages)), ...(await checkRebuilds(t.db.adminUrl)));
    } finally {
      await bus.close();
    }
    const failed = checks.filter((c) => !c.ok);
    expect(failed, JSON.stringify(failed, null, 1)).toEqual([]);
    const churn = checks.find((c) => c.check.startsWith('reaction: one follow-up'))!;
    expect(churn.expected).not.toMatch(/^0 episodes/); // the reaction was exercised
    expect(outcomes.other, 'non-retryable errors').toEqual([]);
    expect(outcomes.ok).toBeGreaterThan(10);
  }, 150_000);
});
