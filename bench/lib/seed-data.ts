/**
 * Bench data, created THROUGH THE GATEWAY like any client would (no inserts behind the services' backs):
 * one organization, `users` people (the owner + invited MEMBERs, each with their own access token), the seven
 * agents, `customers` customers with signals, `tasks` tasks spread over customers and assigned to users and agents,
 * and `commentsPerTask` comments per task written by different users.
 */
import pg from 'pg';
import { eventually, gql, gqlOk } from '../../scripts/lib/graphql-client';

export interface BenchData {
  orgId: string;
  /** One access token per user; tokens[0] is the owner's. */
  tokens: string[];
  userIds: string[];
  customerIds: string[];
  taskIds: string[];
  agentIds: string[];
}

export interface SeedOptions {
  users: number;
  customers: number;
  tasks: number;
  commentsPerTask: number;
  concurrency?: number;
}

/** Runs `fn` over `items` with at most `n` in flight. */
export async function pool<T, R>(items: readonly T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

const retrying = <T>(fn: () => Promise<T>) =>
  eventually(async () => fn(), 15_000, 200);

/** A mutation that may hit CONFLICT on a shared stream (the organization) when run concurrently: retried. */
const mutate = <T>(gw: string, query: string, variables: Record<string, unknown>, token?: string) =>
  retrying(async () => {
    const r = await gql<T>(gw, query, variables, { token });
    if (r.errors?.length || !r.data) throw new Error(JSON.stringify(r.errors));
    return r.data;
  });

export async function seedBenchData(gw: string, pgAdminUrl: string, o: SeedOptions, log: (m: string) => void): Promise<BenchData> {
  const c = o.concurrency ?? 6;
  const password = 'bench-password-1';
  const { signUp } = await gqlOk<{ signUp: { accessToken: string; user: { id: string }; organization: { id: string } } }>(
    gw,
    `mutation($input: SignUpInput!){ signUp(input:$input){ accessToken user { id } organization { id } } }`,
    { input: { email: 'owner@bench.test', password, name: 'Bench Owner', organizationName: 'Bench Co' } },
  );
  const owner = signUp.accessToken;
  const tokens = [owner];
  const userIds = [signUp.user.id];

  const db = new pg.Pool({ connectionString: pgAdminUrl, max: c });
  try {
    const members = Array.from({ length: o.users - 1 }, (_, i) => ({ email: `member${i + 1}@bench.test`, name: `Member ${i + 1}` }));
    const joined = await pool(members, c, async (m) => {
      await mutate(gw, `mutation($e:String!,$n:String!){ inviteMember(email:$e, name:$n, role: MEMBER){ role } }`, { e: m.email, n: m.name }, owner);
      const invite = await eventually(async () => {
        const { rows } = await db.query<{ body: string }>(
          /* benchInvitationMail */ `SELECT body FROM identity.outbound_emails WHERE lower(to_address) = lower($1) ORDER BY created_at DESC LIMIT 1`,
          [m.email],
        );
        return rows[0] && /token=([A-Za-z0-9_-]+)/.exec(rows[0].body)?.[1];
      }, 10_000);
      const r = await mutate<{ acceptInvitation: { accessToken: string; user: { id: string } } }>(
        gw,
        `mutation($t:String!,$p:String!){ acceptInvitation(token:$t,password:$p){ accessToken user { id } } }`,
        { t: invite, p: password },
      );
      return r.acceptInvitation;
    });
    for (const j of joined) {
      tokens.push(j.accessToken);
      userIds.push(j.user.id);
    }
  } finally {
    await db.end();
  }
  log(`${tokens.length} users, each with an own access token`);

  const agents = await eventually(async () => {
    const r = await gqlOk<{ agents: { id: string }[] }>(gw, `{ agents { id } }`, {}, { token: owner });
    return r.agents.length >= 7 ? r.agents : null;
  }, 30_000);
  const agentIds = agents.map((a) => a.id);

  const kinds = [
    ['PRODUCT_USAGE', (i: number) => ((i * 37) % 100) / 100],
    ['NPS', (i: number) => i % 11],
    ['SUPPORT_TICKET', (i: number) => 1 + (i % 4)],
  ] as const;
  const customerIds = await pool(Array.from({ length: o.customers }, (_, i) => i), c, async (i) => {
    const { createCustomer } = await gqlOk<{ createCustomer: { id: string } }>(
      gw,
      `mutation($input: CreateCustomerInput!){ createCustomer(input:$input){ id } }`,
      { input: { name: `Customer ${i + 1}`, domain: `c${i + 1}.example`, plan: 'growth', mrr: 1000 + i * 10, ownerId: userIds[i % userIds.length] } },
      { token: owner },
    );
    for (const [kind, value] of kinds) {
      await gqlOk(gw, `mutation($id:ID!,$input:SignalInput!){ recordSignal(customerId:$id, input:$input){ score } }`, { id: createCustomer.id, input: { kind, value: value(i) } }, { token: owner });
    }
    return createCustomer.id;
  });
  log(`${customerIds.length} customers with ${kinds.length} signals each`);

  const priorities = ['LOW', 'MEDIUM', 'HIGH', 'URGENT'];
  const taskIds = await pool(Array.from({ length: o.tasks }, (_, i) => i), c, async (i) => {
    // Every 5th task goes to an agent (the agents service queues a run for it when the reaction is in place).
    const assigneeId = i % 5 === 4 ? agentIds[i % agentIds.length] : userIds[i % userIds.length];
    const input = { title: `Bench task ${i + 1}`, description: `Task ${i + 1} of the bench`, priority: priorities[i % 4], customerId: customerIds[i % customerIds.length], assigneeId };
    const r = await retrying(async () => {
      const res = await gql<{ createTask: { id: string } }>(gw, `mutation($input: CreateTaskInput!){ createTask(input:$input){ id } }`, { input }, { token: tokens[i % tokens.length] });
      if (res.errors?.length) throw new Error(JSON.stringify(res.errors));
      if (!res.data?.createTask) throw new Error(`createTask answered HTTP ${res.status} without data`);
      return res.data.createTask;
    });
    return r.id;
  });
  log(`${taskIds.length} tasks (every 5th assigned to an agent)`);

  const comments = taskIds.flatMap((id, i) => Array.from({ length: o.commentsPerTask }, (_, k) => ({ id, token: tokens[(i + k + 1) % tokens.length]!, k })));
  await pool(comments, c, async ({ id, token, k }) =>
    gqlOk(gw, `mutation($t:ID!,$b:String!){ addComment(taskId:$t, body:$b){ id } }`, { t: id, b: `Comment ${k + 1}` }, { token }),
  );
  log(`${comments.length} comments by ${Math.min(tokens.length, comments.length)} different authors`);
  return { orgId: signUp.organization.id, tokens, userIds, customerIds, taskIds, agentIds };
}
