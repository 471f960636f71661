/**
 * Every field of the supergraph's Subscription type, driven by the real write that should trigger it, with the
 * event's arrival asserted over graphql-ws through the gateway. The list of fields is read from
 * schema/supergraph.graphql: a field added to the graph without a trigger here fails this file (issue 16 — an
 * approvalRequested that listened on the wrong subject went unnoticed because no test delivered it).
 *
 * The test acts as the agent worker itself (a service account with `agents:work`), so runs move without a worker
 * process and every step is deterministic.
 */
import { readFileSync } from 'node:fs';
import { buildASTSchema, parse } from 'graphql';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually, gqlOk } from '../scripts/lib/graphql-client';
import { startTestStack, type TestStack } from './support/test-stack';

interface Ctx {
  owner: string;
  worker: string;
  agentIds: Record<string, string>;
  customerId: string;
  /** Assigns a new task to the SUPPORT agent; resolves with the run it queued. */
  queueSupportRun(title: string): Promise<{ taskId: string; runId: string }>;
}

interface Trigger {
  /** Who subscribes: an OWNER's access token or the worker's service-account key. */
  as: 'owner' | 'worker';
  subscription: string;
  /** The write that must make the subscription deliver; returns what identifies the expected event. */
  write(ctx: Ctx): Promise<string>;
  /** True when `data` is the event `write` caused (identified by what it returned). */
  delivered(data: any, id: string): boolean;
}

const TRIGGERS: Record<string, Trigger> = {
  taskChanged: {
    as: 'owner',
    subscription: 'subscription { taskChanged { kind task { id title } } }',
    write: async (c) => (await ok(c.owner, 'mutation { createTask(input: { title: "A task is born" }) { id } }')).createTask.id,
    delivered: (d, id) => d.taskChanged.kind === 'CREATED' && d.taskChanged.task.id === id,
  },
  customerHealthChanged: {
    as: 'owner',
    subscription: 'subscription($id: ID) { customerHealthChanged(customerId: $id) { id healthScore { score } } }',
    write: async (c) => {
      await ok(c.owner, 'mutation($id: ID!) { recordSignal(customerId: $id, input: { kind: SUPPORT_TICKET, value: 4 }) { score } }', { id: c.customerId });
      return c.customerId;
    },
    delivered: (d, id) => d.customerHealthChanged.id === id,
  },
  agentRunQueued: {
    as: 'worker',
    subscription: 'subscription { agentRunQueued(kinds: [SUPPORT]) { id status agent { kind } } }',
    write: async (c) => (await c.queueSupportRun('Queued for a worker')).runId,
    delivered: (d, id) => d.agentRunQueued.id === id && d.agentRunQueued.agent.kind === 'SUPPORT',
  },
  agentRunUpdated: {
    as: 'owner',
    subscription: 'subscription { agentRunUpdated { id status } }',
    write: async (c) => {
      const { runId } = await c.queueSupportRun('Claimed by the worker');
      await claim(c, runId);
      return runId;
    },
    delivered: (d, id) => d.agentRunUpdated.id === id && d.agentRunUpdated.status === 'RUNNING',
  },
  approvalRequested: {
    as: 'owner',
    subscription: 'subscription { approvalRequested { id action status task { id status } } }',
    write: async (c) => {
      const { taskId, runId } = await c.queueSupportRun('Customer asks about the refund');
      const token = await claim(c, runId);
      await ok(c.worker, 'mutation($id: ID!, $t: String!) { requestApproval(runId: $id, token: $t, action: "support.sendReply", payload: { draft: "Refunded today." }) { status } }', {
        id: runId,
        t: token,
      });
      return taskId;
    },
    delivered: (d, id) => d.approvalRequested.task.id === id && d.approvalRequested.status === 'PENDING' && d.approvalRequested.action === 'support.sendReply',
  },
};

let t: TestStack;
let ctx: Ctx;

function ok<T = any>(credential: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const opts = credential.startsWith('cos_') ? { apiKey: credential } : { token: credential };
  return gqlOk<T>(t.gatewayUrl, query, variables, opts);
}

/** Claims `runId` as the worker (the oldest queued SUPPORT run: claim until it is this one). */
async function claim(c: Ctx, runId: string): Promise<string> {
  return eventually(async () => {
    const r = await ok(c.worker, 'mutation { claimAgentRun(kinds: [SUPPORT], leaseSeconds: 120, worker: "subscription-fields") { run { id } token } }');
    return r.claimAgentRun?.run.id === runId ? (r.claimAgentRun.token as string) : null;
  }, 20_000);
}

function supergraphSubscriptionFields(): string[] {
  const sdl = readFileSync('schema/supergraph.graphql', 'utf8');
  const schema = buildASTSchema(parse(sdl), { assumeValidSDL: true });
  return Object.keys(schema.getSubscriptionType()?.getFields() ?? {}).sort();
}

beforeAll(async () => {
  t = await startTestStack();
  const s = await gqlOk<any>(
    t.gatewayUrl,
    'mutation { signUp(input: { email: "subs@fields.test", password: "correct horse battery", name: "Sam Subscriber", organizationName: "Fields Inc" }) { accessToken } }',
  );
  const owner = s.signUp.accessToken as string;
  const worker = (await ok(owner, 'mutation { createServiceAccount(name: "fields-worker") { secret } }')).createServiceAccount.secret as string;
  const agentIds = await eventually(async () => {
    const a = await ok<{ agents: { id: string; kind: string }[] }>(owner, '{ agents { id kind } }');
    return a.agents.length === 7 ? Object.fromEntries(a.agents.map((x) => [x.kind, x.id])) : null;
  }, 30_000);
  const customerId = (await ok(owner, 'mutation { createCustomer(input: { name: "Initech", plan: "pro" }) { id } }')).createCustomer.id as string;
  ctx = {
    owner,
    worker,
    agentIds,
    customerId,
    async queueSupportRun(title) {
      const taskId = (await ok(owner, 'mutation($a: ID!, $title: String!) { createTask(input: { title: $title, assigneeId: $a }) { id } }', { a: agentIds.SUPPORT, title })).createTask.id;
      const runId = await eventually(async () => (await ok(owner, 'query($id: ID!) { task(id: $id) { agentRuns { id } } }', { id: taskId })).task.agentRuns[0]?.id ?? null, 20_000);
      return { taskId, runId };
    },
  };
}, 180_000);

afterAll(async () => {
  await t?.stop();
});

describe('every Subscription field of the supergraph delivers its event', () => {
  it('has a trigger for every field (a new Subscription field needs one here)', () => {
    expect(Object.keys(TRIGGERS).sort()).toEqual(supergraphSubscriptionFields());
  });

  it.each(supergraphSubscriptionFields())('%s: the real write delivers the event over graphql-ws', async (field) => {
    const trigger = TRIGGERS[field];
    if (!trigger) throw new Error(`Subscription.${field} has no trigger in e2e/subscription-fields.e2e.ts: add the write that should deliver it`);
    const credential = trigger.as === 'owner' ? ctx.owner : ctx.worker;
    const client = createClient({
      url: t.gatewayUrl.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: trigger.as === 'owner' ? `Bearer ${credential}` : `ApiKey ${credential}` },
      retryAttempts: 0,
    });
    const received: any[] = [];
    const errors: unknown[] = [];
    const variables = field === 'customerHealthChanged' ? { id: ctx.customerId } : {};
    const stop = client.subscribe(
      { query: trigger.subscription, variables },
      { next: (r) => void (r.errors ? errors.push(r.errors) : received.push(r.data)), error: (e) => void errors.push(e), complete: () => undefined },
    );
    try {
      // Subscriptions register asynchronously (their upstream consumer): let it settle before the write.
      await new Promise((r) => setTimeout(r, 1_500));
      const id = await trigger.write(ctx);
      const got = await eventually(async () => received.find((d) => trigger.delivered(d, id)), 20_000).catch((err: Error) => {
        throw new Error(`${err.message}: ${field} delivered ${JSON.stringify(received)} errors ${JSON.stringify(errors)}`, { cause: err });
      });
      expect(got).toBeTruthy();
      expect(errors).toEqual([]);
    } finally {
      stop();
      await client.dispose();
    }
  });
});
