/**
 * Seeds the API.md demo data THROUGH THE GATEWAY (the same paths a client uses; nothing is inserted behind the
 * services' backs): an organization with OWNER owner@demo.test and VIEWER viewer@demo.test (password
 * demo-password-1), customers with real signals (one at risk), tasks, and the seven agents (created by the agents
 * service reacting to OrganizationCreated), and the MCP tool set registered as the trusted documents of client `mcp`
 * (so a partner API key named "mcp" can use the MCP server). Idempotent: when the owner can already log in, only the
 * MCP manifest is (re)published — publishing registers what is new and nothing else.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { eventually, gql, gqlOk } from './lib/graphql-client';
import { repoRoot } from './lib/paths';

export const DEMO = {
  owner: { email: 'owner@demo.test', password: 'demo-password-1', name: 'Olivia Owner' },
  viewer: { email: 'viewer@demo.test', password: 'demo-password-1', name: 'Victor Viewer' },
  organizationName: 'Demo Company',
};

const AUTH = `accessToken refreshToken user { id name } organization { id name }`;

/** The MCP server's tools: client `mcp`'s manifest (schema/persisted/operations/mcp → pnpm persisted:manifests). */
export const MCP_CLIENT = 'mcp';
export const MCP_MANIFEST = path.join(repoRoot, 'schema/persisted/mcp.json');

/**
 * Registers the MCP tool set as client `mcp`'s trusted documents in the caller's organization (ADMIN/OWNER token),
 * through the audited `publishPersistedOperations` mutation: partner keys named "mcp" may then run them.
 */
export async function publishMcpManifest(gatewayUrl: string, token: string): Promise<number> {
  const manifest = JSON.parse(await readFile(MCP_MANIFEST, 'utf8')) as unknown;
  const r = await gqlOk<{ publishPersistedOperations: number }>(
    gatewayUrl,
    `mutation($c: String!, $m: JSON!) { publishPersistedOperations(client: $c, manifest: $m) }`,
    { c: MCP_CLIENT, m: manifest },
    { token },
  );
  return r.publishPersistedOperations;
}

/** What the demo organization holds, read through the gateway (the same numbers the README's first query shows). */
export interface DemoSummary {
  tasks: number;
  customers: number;
  atRisk: string[];
}

export async function seed(gatewayUrl: string, pgAdminUrl: string, log: (m: string) => void = console.log): Promise<DemoSummary> {
  const existing = await gql<{ login: { accessToken: string } }>(gatewayUrl, `mutation($e:String!,$p:String!){ login(email:$e,password:$p){ accessToken } }`, {
    e: DEMO.owner.email,
    p: DEMO.owner.password,
  });
  if (existing.data?.login) {
    const summary = await demoSummary(gatewayUrl, existing.data.login.accessToken);
    log(`demo data already present (owner@demo.test can log in): ${describeDemo(summary)}`);
    const added = await publishMcpManifest(gatewayUrl, existing.data.login.accessToken);
    if (added) log(`MCP tools: ${added} new operations registered for client "${MCP_CLIENT}"`);
    return summary;
  }
  const { signUp } = await gqlOk<{ signUp: { accessToken: string; user: { id: string }; organization: { id: string } } }>(
    gatewayUrl,
    `mutation($input: SignUpInput!){ signUp(input:$input){ ${AUTH} } }`,
    { input: { email: DEMO.owner.email, password: DEMO.owner.password, name: DEMO.owner.name, organizationName: DEMO.organizationName } },
  );
  const token = signUp.accessToken;
  const ownerId = signUp.user.id;
  log(`organization ${DEMO.organizationName} (${signUp.organization.id}) with OWNER ${DEMO.owner.email}`);

  // The viewer accepts an invitation with the token from the email the identity service sent.
  await gqlOk(gatewayUrl, `mutation{ inviteMember(email:"${DEMO.viewer.email}", name:"${DEMO.viewer.name}", role: VIEWER){ role } }`, {}, { token });
  const inviteToken = await readInvitationToken(pgAdminUrl, DEMO.viewer.email);
  await gqlOk(gatewayUrl, `mutation($t:String!,$p:String!){ acceptInvitation(token:$t,password:$p){ accessToken } }`, {
    t: inviteToken,
    p: DEMO.viewer.password,
  }, { token: undefined });
  log(`VIEWER ${DEMO.viewer.email} joined`);

  const agents = await eventually(async () => {
    const r = await gqlOk<{ agents: { id: string; kind: string }[] }>(gatewayUrl, `{ agents { id kind } }`, {}, { token });
    return r.agents.length === 7 ? r.agents : null;
  }, 20_000);
  log('seven agents ready');

  const customers = [
    { name: 'Globex', domain: 'globex.example', plan: 'enterprise', mrr: 12000, signals: [['PRODUCT_USAGE', 0.86], ['NPS', 9], ['LOGIN', 40]] },
    { name: 'Initech', domain: 'initech.example', plan: 'growth', mrr: 3400, signals: [['PRODUCT_USAGE', 0.55], ['SUPPORT_TICKET', 2], ['NPS', 7]] },
    { name: 'Umbrella', domain: 'umbrella.example', plan: 'starter', mrr: 900, signals: [['PRODUCT_USAGE', 0.12], ['SUPPORT_TICKET', 4], ['SUPPORT_TICKET', 3], ['NPS', 2], ['PAYMENT_FAILED', 900]] },
  ] as const;
  const customerIds: string[] = [];
  for (const c of customers) {
    const { createCustomer } = await gqlOk<{ createCustomer: { id: string } }>(
      gatewayUrl,
      `mutation($input: CreateCustomerInput!){ createCustomer(input:$input){ id } }`,
      { input: { name: c.name, domain: c.domain, plan: c.plan, mrr: c.mrr, ownerId, contacts: [{ name: `${c.name} Champion`, email: `champion@${c.domain}` }] } },
      { token },
    );
    customerIds.push(createCustomer.id);
    for (const [kind, value] of c.signals) {
      await gqlOk(gatewayUrl, `mutation($id:ID!,$input:SignalInput!){ recordSignal(customerId:$id, input:$input){ score } }`, {
        id: createCustomer.id,
        input: { kind, value },
      }, { token });
    }
  }
  const { atRisk } = await demoSummary(gatewayUrl, token);
  log(`${customers.length} customers with signals (${atRisk.join(', ') || 'none'} at risk of churn)`);

  const triage = agents.find((a) => a.kind === 'TRIAGE')!;
  const tasks = [
    { title: 'Prepare Globex renewal', priority: 'HIGH', customerId: customerIds[0], assigneeId: ownerId },
    { title: 'Answer Initech onboarding questions', priority: 'MEDIUM', customerId: customerIds[1], assigneeId: ownerId },
    { title: 'Triage incoming support backlog', priority: 'LOW', customerId: null, assigneeId: triage.id },
  ];
  for (const t of tasks) {
    await eventually(async () => {
      const r = await gql(gatewayUrl, `mutation($input: CreateTaskInput!){ createTask(input:$input){ id } }`, { input: t }, { token });
      if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
      return r.data?.createTask;
    }, 10_000, 300);
  }
  log(`${tasks.length} tasks created (one assigned to the Triage agent)`);

  // The tasks service opens one follow-up task per customer at risk of churn, reacting to ChurnRiskFlagged over
  // NATS: wait for them, so what is reported here is what the first query returns.
  const expected = tasks.length + atRisk.length;
  const summary = await eventually(
    async () => {
      const s = await demoSummary(gatewayUrl, token);
      return s.tasks >= expected ? s : null;
    },
    15_000,
    300,
  ).catch(() => demoSummary(gatewayUrl, token));
  const followUps = summary.tasks - tasks.length;
  log(
    `${followUps} follow-up task${followUps === 1 ? '' : 's'} opened by the tasks service (${atRisk.join(', ')} at risk of churn)` +
      (followUps < atRisk.length ? `; ${atRisk.length - followUps} not opened yet` : ''),
  );
  const published = await publishMcpManifest(gatewayUrl, token);
  log(`MCP tools: ${published} operations registered for client "${MCP_CLIENT}" (partner keys named "${MCP_CLIENT}" may run them)`);
  log(describeDemo(summary));
  return summary;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
/** `4 tasks, 3 customers (Umbrella at risk of churn)`. */
export const describeDemo = (s: DemoSummary) =>
  `${plural(s.tasks, 'task')}, ${plural(s.customers, 'customer')}${s.atRisk.length ? ` (${s.atRisk.join(', ')} at risk of churn)` : ''}`;

/** Counts what the owner sees. */
export async function demoSummary(gatewayUrl: string, token: string): Promise<DemoSummary> {
  const r = await gqlOk<{ tasks: { totalCount: number }; customers: { totalCount: number }; atRisk: { edges: { node: { name: string } }[] } }>(
    gatewayUrl,
    `{ tasks { totalCount } customers { totalCount } atRisk: customers(atRisk: true, first: 100) { edges { node { name } } } }`,
    {},
    // Fresh counts: the response cache may hold an answer from before the follow-up task was opened.
    { token, headers: { 'cache-control': 'no-cache' } },
  );
  return { tasks: r.tasks.totalCount, customers: r.customers.totalCount, atRisk: r.atRisk.edges.map((e) => e.node.name).sort() };
}

/** The dev mail sink: identity writes outgoing mail to identity.outbound_emails (a real mailer replaces it). */
async function readInvitationToken(pgAdminUrl: string, email: string): Promise<string> {
  const c = new pg.Client({ connectionString: pgAdminUrl });
  await c.connect();
  try {
    return await eventually(async () => {
      const { rows } = await c.query<{ body: string }>(
        `SELECT body FROM identity.outbound_emails WHERE lower(to_address) = lower($1) ORDER BY created_at DESC LIMIT 1`,
        [email],
      );
      const m = rows[0] && /token=([A-Za-z0-9_-]+)/.exec(rows[0].body);
      return m?.[1];
    }, 10_000);
  } finally {
    await c.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const gw = process.env.GATEWAY_URL ?? 'http://127.0.0.1:4000/graphql';
  await seed(gw, process.env.COS_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/cos');
}
