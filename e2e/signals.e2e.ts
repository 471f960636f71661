/**
 * Customer signals through the public entry point (issue 15): the whole stack as processes. A Stripe-shaped webhook is
 * POSTed to the GATEWAY (`/webhooks/stripe/<id>`), forwarded raw to customers, verified there, and the customer's
 * health changes in the graph; a redelivery is a duplicate, a forged one is refused. A Zendesk connector created
 * through the graph pulls from a local server speaking the incremental export, on the customers process' schedule.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, gql, gqlOk } from '../scripts/lib/graphql-client';
import { fakeZendesk, signStripe, stripeInvoiceFailed, type FakeProvider } from '../services/customers/test/support/providers';
import { startTestStack, type TestStack } from './support/test-stack';

let t: TestStack;
let token: string;
let zendesk: FakeProvider;

beforeAll(async () => {
  t = await startTestStack({ extraEnv: { LOG_LEVEL: 'info', CONNECTORS_ALLOW_CUSTOM_BASE_URL: 'true', CONNECTORS_POLL_MS: '300' } });
  const r = await gqlOk(t.gatewayUrl, `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`, {
    input: { email: 'sam@signals.test', password: 'correct horse battery', name: 'Sam Success', organizationName: 'Signals Inc' },
  });
  token = r.signUp.accessToken;
}, 120_000);

afterAll(async () => {
  await zendesk?.close();
  await t?.stop();
});

const ok = <T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}) => gqlOk<T>(t.gatewayUrl, query, variables, { token });
const webhook = (path: string, body: string, headers: Record<string, string>) =>
  fetch(new URL(path, t.gatewayUrl), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

describe('webhooks and connectors through the gateway', () => {
  it('a Stripe-shaped invoice.payment_failed webhook changes the customer health; redelivery is a duplicate; forgeries are refused', async () => {
    const customer = (await ok(`mutation { createCustomer(input: { name: "Acme", domain: "acme-e2e.test" }) { id } }`)).createCustomer.id as string;
    const created = await ok(
      `mutation { createConnection(provider: BILLING_STRIPE, config: { name: "Stripe" }) { webhookSecret connection { id webhookPath webhookSecret { last4 } } } }`,
    );
    const { webhookSecret, connection } = created.createConnection as { webhookSecret: string; connection: { id: string; webhookPath: string; webhookSecret: { last4: string } } };
    expect(connection.webhookSecret.last4).toBe(webhookSecret.slice(-4));

    const body = JSON.stringify(stripeInvoiceFailed(`evt_${randomUUID().slice(0, 8)}`, 'ap@acme-e2e.test', 9900));
    const res = await webhook(connection.webhookPath, body, { 'stripe-signature': signStripe(webhookSecret, body) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'accepted' });
    // 2xx came after the commit: health is already there
    const c = await ok(`query($id: ID!) { customer(id: $id) { healthScore { score factors { name } } } }`, { id: customer });
    expect(c.customer.healthScore).toEqual({ score: 50, factors: [{ name: 'payments' }] });

    const again = await webhook(connection.webhookPath, body, { 'stripe-signature': signStripe(webhookSecret, body) });
    expect(await again.json()).toMatchObject({ status: 'duplicate' });
    const forged = await webhook(connection.webhookPath, body.replace('9900', '1'), { 'stripe-signature': signStripe(webhookSecret, body) });
    expect(forged.status).toBe(401);
    expect(await forged.json()).toEqual({ error: { code: 'INVALID_SIGNATURE', message: expect.any(String) } });
    const huge = await webhook(connection.webhookPath, 'x'.repeat(300 * 1024), { 'stripe-signature': 't=1,v1=00' });
    expect(huge.status).toBe(413);
    const unknown = await webhook(`/webhooks/stripe/${randomUUID()}`, body, { 'stripe-signature': signStripe(webhookSecret, body) });
    expect(unknown.status).toBe(404);

    const d = await ok(`query($id: ID!) { connection(id: $id) { deliveries { outcome reason } } }`, { id: connection.id });
    expect(d.connection.deliveries.map((x: { outcome: string; reason: string | null }) => `${x.outcome}:${x.reason ?? ''}`).sort()).toEqual([
      'ACCEPTED:',
      'DUPLICATE:',
      'REJECTED:INVALID_SIGNATURE',
    ]);
    // a VIEWER-level scope set cannot read connections (the gateway's @requiresScopes)
    const anon = await gql(t.gatewayUrl, `{ connections { id } }`, {});
    expect(anon.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('a Zendesk connector pulls tickets on schedule into support signals', async () => {
    const customer = (await ok(`mutation { createCustomer(input: { name: "Initech", domain: "initech-e2e.test" }) { id } }`)).createCustomer.id as string;
    zendesk = await fakeZendesk({
      tickets: [
        { id: 11, priority: 'urgent', requester_id: 7, created_at: new Date(Date.now() - 3_600_000).toISOString(), status: 'open' },
        { id: 12, priority: 'high', requester_id: 7, created_at: new Date(Date.now() - 1_800_000).toISOString(), status: 'open' },
      ],
      users: [{ id: 7, email: 'peter@initech-e2e.test' }],
      perPage: 1,
      email: 'agent@initech-e2e.test',
      token: 'zd-e2e-token',
    });
    const created = await ok(
      `mutation($config: ConnectionConfigInput!) { createConnection(provider: SUPPORT_ZENDESK, config: $config) { connection { id apiToken { last4 } } } }`,
      { config: { name: 'Zendesk', baseUrl: zendesk.url, email: 'agent@initech-e2e.test', apiToken: 'zd-e2e-token', syncIntervalSeconds: 3600 } },
    );
    const id = created.createConnection.connection.id as string;
    expect(created.createConnection.connection.apiToken.last4).toBe('oken');
    const sync = await eventually(async () => {
      const r = await ok(`query($id: ID!) { connection(id: $id) { sync { status itemsSynced lastSyncAt nextSyncAt } } }`, { id });
      return r.connection.sync.status === 'OK' ? r.connection.sync : null;
    }, 20_000);
    expect(sync.itemsSynced).toBe(2);
    const c = await ok(`query($id: ID!) { customer(id: $id) { healthScore { factors { name value } } } }`, { id: customer });
    // severities 4 + 3: support = 1 - min(1, 7/8)
    expect(c.customer.healthScore.factors).toEqual([{ name: 'support', value: 0.125 }]);
    expect(zendesk.requests.length).toBe(2);
  });
});
