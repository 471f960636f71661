/**
 * Issue 4 gap: service accounts for agent workers, through the gateway against the whole stack as processes.
 * An OWNER creates one; its key authenticates as a `service` principal with agents:work only: it reads what any
 * authenticated caller of its organization may read, and every member mutation is FORBIDDEN with nothing written.
 * (That the principal reaches subgraphs as kind service is shown in gateway/test/identity-keys.int.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, gqlOk } from '../scripts/lib/graphql-client';
import { startTestStack, type TestStack } from './support/test-stack';

let t: TestStack;
let token: string;
let userId: string;
let secret: string;

beforeAll(async () => {
  t = await startTestStack();
  const s = await gqlOk(
    t.gatewayUrl,
    `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken user { id } } }`,
    { input: { email: 'owner@sa.test', password: 'correct horse battery', name: 'Owen Owner', organizationName: 'Service Co' } },
  );
  token = s.signUp.accessToken;
  userId = s.signUp.user.id;
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

const codes = (r: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => (r.errors ?? []).map((e) => e.extensions?.code);

describe('service accounts through the gateway', () => {
  it('an OWNER creates a service account holding agents:work only; anonymous callers cannot', async () => {
    const anon = await gql(t.gatewayUrl, `mutation { createServiceAccount(name: "w") { secret } }`);
    expect(codes(anon)).toEqual(['UNAUTHENTICATED']);
    const r = await gqlOk(t.gatewayUrl, `mutation { createServiceAccount(name: "triage-worker") { secret apiKey { id name scopes } } }`, {}, { token });
    expect(r.createServiceAccount.apiKey).toMatchObject({ name: 'triage-worker', scopes: ['agents:work'] });
    secret = r.createServiceAccount.secret;
  });

  it('authenticates (not a user) and reaches subgraphs, which refuse what agents:work does not cover', async () => {
    const me = await gql(t.gatewayUrl, `{ me { id } }`, {}, { apiKey: secret });
    expect(me.status).toBe(200);
    expect(me.errors, t.logs()).toBeUndefined();
    expect(me.data!.me).toBeNull();
    // A worker reads the agents it works for (agents:work covers it, services/agents/src/resolvers/guards.ts) ...
    const agents = await gql(t.gatewayUrl, `{ agents { id } }`, {}, { apiKey: secret });
    expect(agents.errors).toBeUndefined();
    // ... but not customers: the gateway only requires @authenticated there; the customers subgraph's own check answers.
    const customers = await gql(t.gatewayUrl, `{ customers(first: 1) { totalCount } }`, {}, { apiKey: secret });
    expect(customers.errors?.map((e) => [e.extensions?.code, e.message])).toEqual([['FORBIDDEN', 'Missing permission: customers:read']]);
    const wrong = await gql(t.gatewayUrl, `{ me { id } }`, {}, { apiKey: `${secret}x` });
    expect(wrong.status).toBe(401);
  });

  it('every member mutation is FORBIDDEN and nothing is written', async () => {
    const attempts: Array<[string, Record<string, unknown>]> = [
      [`mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }`, { i: { title: 'not mine to create' } }],
      [`mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }`, { i: { name: 'Nope Inc' } }],
      [`mutation { inviteMember(email: "x@sa.test", name: "X", role: MEMBER) { role } }`, {}],
      [`mutation($u: ID!) { changeRole(userId: $u, role: VIEWER) { role } }`, { u: userId }],
      [`mutation($u: ID!) { removeMember(userId: $u) }`, { u: userId }],
      [`mutation { createApiKey(name: "k", scopes: ["tasks:read"]) { secret } }`, {}],
      [`mutation { createServiceAccount(name: "another") { secret } }`, {}],
    ];
    for (const [query, variables] of attempts) {
      const r = await gql(t.gatewayUrl, query, variables, { apiKey: secret });
      expect(codes(r), query).toEqual(['FORBIDDEN']);
    }
    const state = await gqlOk(t.gatewayUrl, `{ tasks { totalCount } customers { totalCount } }`, {}, { token });
    expect(state.tasks.totalCount).toBe(0);
    expect(state.customers.totalCount).toBe(0);
  });
});
