/**
 * Issue 11, MCP server: the whole stack as processes plus the MCP server as a process (Streamable HTTP) and as a
 * child of the test (stdio), driven by the SDK's own client. The demo organization comes from the real seed, which
 * registers the MCP tool set for client "mcp"; its OWNER creates partner keys named "mcp" — the flow the README
 * documents. Every tool call goes through the gateway with the caller's key: real data, the key's scopes, the
 * organization's boundary, the audit log.
 */
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, gqlOk } from '../scripts/lib/graphql-client';
import { mcpProcess } from '../scripts/lib/mcp';
import { repoRoot } from '../scripts/lib/paths';
import { DEMO, seed } from '../scripts/seed';
import { freePort, startTestStack, type TestStack } from './support/test-stack';

let t: TestStack;
let mcpUrl: string;
let ownerToken: string;
const keys = { read: '', write: '', unregistered: '' };
let writeKeyId: string;
const other = { token: '', customerId: '', customerName: `Secret Corp ${Date.now()}` };
const clients: Client[] = [];

type Structured = { data?: Record<string, any>; errors?: Array<{ code: string; message: string; path?: unknown[] }> };
const structured = (r: unknown) => (r as CallToolResult).structuredContent as Structured;
const textOf = (r: unknown) => ((r as CallToolResult).content[0] as { text: string }).text;

async function connect(headers: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'mcp-e2e', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers } }));
  clients.push(client);
  return client;
}

async function createKey(name: string, scopes: string[]): Promise<{ id: string; secret: string }> {
  const r = await gqlOk<{ createApiKey: { apiKey: { id: string }; secret: string } }>(
    t.gatewayUrl,
    `mutation($n: String!, $s: [String!]!) { createApiKey(name: $n, scopes: $s) { apiKey { id } secret } }`,
    { n: name, s: scopes },
    { token: ownerToken },
  );
  return { id: r.createApiKey.apiKey.id, secret: r.createApiKey.secret };
}

beforeAll(async () => {
  t = await startTestStack();
  const port = await freePort();
  await t.stack.startProcess(mcpProcess({ gatewayUrl: t.gatewayUrl, port }));
  mcpUrl = `http://127.0.0.1:${port}/mcp`;
  await seed(t.gatewayUrl, t.db.adminUrl, () => {});
  const login = await gqlOk<{ login: { accessToken: string } }>(t.gatewayUrl, `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }`, {
    e: DEMO.owner.email,
    p: DEMO.owner.password,
  });
  ownerToken = login.login.accessToken;
  // The specialists run in the reference agent worker, a client of the graph like the MCP server.
  await t.startWorker({ adminToken: ownerToken, kinds: ['SUPPORT'] });
  keys.read = (await createKey('mcp', ['customers:read', 'tasks:read', 'agents:read'])).secret;
  const write = await createKey('mcp', ['customers:read', 'customers:write', 'tasks:read', 'tasks:write', 'agents:read', 'agents:run', 'approvals:decide']);
  keys.write = write.secret;
  writeKeyId = write.id;
  keys.unregistered = (await createKey('zapier', ['customers:read'])).secret;

  // Another organization with a customer of its own.
  const b = await gqlOk<{ signUp: { accessToken: string } }>(t.gatewayUrl, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }`, {
    i: { email: `other-${Date.now()}@e2e.test`, password: 'correct horse battery', name: 'Other Owner', organizationName: 'Other Org' },
  });
  other.token = b.signUp.accessToken;
  const c = await gqlOk<{ createCustomer: { id: string } }>(
    t.gatewayUrl,
    `mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }`,
    { i: { name: other.customerName, plan: 'enterprise' } },
    { token: other.token },
  );
  other.customerId = c.createCustomer.id;
  await gqlOk(t.gatewayUrl, `mutation($id: ID!) { recordSignal(customerId: $id, input: { kind: NPS, value: 1 }) { score } }`, { id: other.customerId }, { token: other.token });
}, 180_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await t?.stop();
});

describe('MCP over Streamable HTTP with a partner key named "mcp"', () => {
  it('lists the customer-success tools with descriptions and input schemas', async () => {
    const client = await connect({ authorization: `ApiKey ${keys.read}` });
    const { tools } = await client.listTools();
    expect(tools.map((x) => x.name).sort()).toEqual(
      [
        'AgentRunStatus',
        'CreateFollowUpTask',
        'CustomerOverview',
        'DecideApproval',
        'FindAtRiskCustomers',
        'ListAgents',
        'ListCustomers',
        'ListPendingApprovals',
        'RecordSignal',
        'SearchTasks',
        'StartAgentRun',
      ].sort(),
    );
    const record = tools.find((x) => x.name === 'RecordSignal')!;
    expect(record.description).toMatch(/recomputes the customer's health score/);
    expect(record.inputSchema.properties!.kind).toMatchObject({ enum: ['PRODUCT_USAGE', 'SUPPORT_TICKET', 'NPS', 'PAYMENT_FAILED', 'LOGIN'] });
  });

  it('FindAtRiskCustomers answers the real at-risk customers, as the graph does', async () => {
    const client = await connect({ authorization: `ApiKey ${keys.read}` });
    const r = await client.callTool({ name: 'FindAtRiskCustomers', arguments: {} });
    expect(r.isError, textOf(r)).toBeFalsy();
    const nodes = structured(r).data!.customers.edges.map((e: { node: any }) => e.node);
    expect(nodes.map((n: { name: string }) => n.name)).toEqual(['Umbrella']);
    expect(nodes[0]).toMatchObject({ churnRisk: true, domain: 'umbrella.example', owner: { name: DEMO.owner.name } });
    expect(nodes[0].healthScore.score).toBeLessThan(40);
    const direct = await gqlOk<{ customers: { edges: Array<{ node: { id: string; healthScore: { score: number } } }> } }>(
      t.gatewayUrl,
      `{ customers(atRisk: true) { edges { node { id healthScore { score } } } } }`,
      {},
      { token: ownerToken },
    );
    expect(nodes.map((n: { id: string }) => n.id)).toEqual(direct.customers.edges.map((e) => e.node.id));
    expect(nodes[0].healthScore.score).toBe(direct.customers.edges[0]!.node.healthScore.score);
    expect(JSON.parse(textOf(r))).toEqual(structured(r));
  });

  it('CustomerOverview: health history and the open follow-up task the churn flag opened', async () => {
    const client = await connect({ 'x-api-key': keys.read });
    const list = structured(await client.callTool({ name: 'ListCustomers', arguments: { first: 10 } })).data!;
    const umbrella = list.customers.edges.find((e: { node: { name: string } }) => e.node.name === 'Umbrella').node;
    const overview = await eventually(async () => {
      const r = structured(await client.callTool({ name: 'CustomerOverview', arguments: { customerId: umbrella.id, historyPoints: 20 } })).data!;
      return r.tasks.totalCount >= 1 ? r : null;
    }, 20_000, 300);
    expect(overview.customer).toMatchObject({ id: umbrella.id, name: 'Umbrella', churnRisk: true, contacts: [{ name: 'Umbrella Champion' }] });
    // One health score per recorded signal (five in the seed), oldest first.
    expect(overview.customer.healthHistory).toHaveLength(5);
    const times = overview.customer.healthHistory.map((h: { computedAt: string }) => Date.parse(h.computedAt));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(overview.tasks.edges.every((e: { node: { status: string } }) => ['TODO', 'IN_PROGRESS', 'AWAITING_APPROVAL'].includes(e.node.status))).toBe(true);
  });

  it('a tool the key’s scopes forbid → a tool error carrying FORBIDDEN, and nothing is written', async () => {
    const client = await connect({ authorization: `ApiKey ${keys.read}` });
    const list = structured(await client.callTool({ name: 'ListCustomers', arguments: {} })).data!;
    const title = `Forbidden follow-up ${Date.now()}`;
    const r = await client.callTool({ name: 'CreateFollowUpTask', arguments: { customerId: list.customers.edges[0].node.id, title } });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/^FORBIDDEN: /);
    expect(structured(r).errors![0]).toMatchObject({ code: 'FORBIDDEN', path: ['createTask'] });
    const found = structured(await client.callTool({ name: 'SearchTasks', arguments: { search: title } })).data!;
    expect(found.tasks.totalCount).toBe(0);
  });

  it('writes with a key that may: create a follow-up task, record a signal — audited as the key', async () => {
    const client = await connect({ authorization: `ApiKey ${keys.write}` });
    const list = structured(await client.callTool({ name: 'ListCustomers', arguments: {} })).data!;
    const initech = list.customers.edges.find((e: { node: { name: string } }) => e.node.name === 'Initech').node;
    const created = await client.callTool({
      name: 'CreateFollowUpTask',
      arguments: { customerId: initech.id, title: 'Call Initech about onboarding', priority: 'HIGH', dueAt: '2031-01-15T09:00:00Z' },
    });
    expect(created.isError, textOf(created)).toBeFalsy();
    const task = structured(created).data!.createTask;
    expect(task).toMatchObject({ title: 'Call Initech about onboarding', priority: 'HIGH', status: 'TODO', customer: { id: initech.id, name: 'Initech' } });
    const seen = await gqlOk<{ task: { title: string } }>(t.gatewayUrl, `query($id: ID!) { task(id: $id) { title } }`, { id: task.id }, { token: ownerToken });
    expect(seen.task.title).toBe('Call Initech about onboarding');

    const signal = await client.callTool({ name: 'RecordSignal', arguments: { customerId: initech.id, kind: 'NPS', value: 10, note: 'from the assistant' } });
    expect(signal.isError, textOf(signal)).toBeFalsy();
    const score = structured(signal).data!.recordSignal;
    const now = await gqlOk<{ customer: { healthScore: { score: number } } }>(t.gatewayUrl, `query($id: ID!) { customer(id: $id) { healthScore { score } } }`, { id: initech.id }, {
      token: ownerToken,
    });
    expect(now.customer.healthScore.score).toBe(score.score);

    const bad = await client.callTool({ name: 'RecordSignal', arguments: { customerId: initech.id, kind: 'NPS', value: 11 } });
    expect(bad.isError).toBe(true);
    expect(structured(bad).errors![0]!.code).toBe('BAD_USER_INPUT');

    const audit = await eventually(async () => {
      const a = await gqlOk<{ auditLog: Array<{ actor: string; action: string }> }>(t.gatewayUrl, `{ auditLog(first: 100) { actor action } }`, {}, { token: ownerToken });
      const mine = a.auditLog.filter((e) => e.actor === `apiKey:${writeKeyId}`);
      return mine.length >= 2 ? mine : null;
    }, 15_000, 300);
    expect(audit.map((e) => e.action)).toEqual(expect.arrayContaining(['TaskCreated', 'SignalRecorded']));
  });

  it('an agent run started over MCP asks for approval; a key cannot decide it, the person can (Bearer), and the run completes', async () => {
    const agentKey = await connect({ authorization: `ApiKey ${keys.write}` });
    const agents = structured(await agentKey.callTool({ name: 'ListAgents', arguments: {} })).data!.agents as Array<{ id: string; kind: string }>;
    expect(agents).toHaveLength(7);
    const support = agents.find((a) => a.kind === 'SUPPORT')!;
    const list = structured(await agentKey.callTool({ name: 'ListCustomers', arguments: {} })).data!;
    const globex = list.customers.edges.find((e: { node: { name: string } }) => e.node.name === 'Globex').node;
    const task = structured(
      await agentKey.callTool({ name: 'CreateFollowUpTask', arguments: { customerId: globex.id, title: 'Reply to Globex about the renewal quote' } }),
    ).data!.createTask;

    const run = await eventually(async () => {
      const r = await agentKey.callTool({ name: 'StartAgentRun', arguments: { taskId: task.id, agentId: support.id } });
      return r.isError ? null : structured(r).data!.startAgentRun;
    }, 15_000, 300);
    expect(run).toMatchObject({ agent: { id: support.id, kind: 'SUPPORT' }, task: { id: task.id } });

    const approval = await eventually(async () => {
      const p = structured(await agentKey.callTool({ name: 'ListPendingApprovals', arguments: {} })).data!.pendingApprovals;
      return p.find((a: { task: { id: string } }) => a.task.id === task.id);
    }, 30_000, 300);
    expect(approval).toMatchObject({ action: 'support.sendReply', status: 'PENDING', requestedBy: { id: support.id } });
    expect(approval.payload.draft).toMatch(/Reply to Globex/);

    // Human in the loop: a partner key holding approvals:decide is still not a person.
    const byKey = await agentKey.callTool({ name: 'DecideApproval', arguments: { approvalId: approval.id, approve: true } });
    expect(byKey.isError).toBe(true);
    expect(structured(byKey).errors![0]!.code).toBe('FORBIDDEN');

    const person = await connect({ authorization: `Bearer ${ownerToken}` });
    const decided = await person.callTool({ name: 'DecideApproval', arguments: { approvalId: approval.id, approve: true, reason: 'Looks right' } });
    expect(decided.isError, textOf(decided)).toBeFalsy();
    expect(structured(decided).data!.decideApproval).toMatchObject({ id: approval.id, status: 'APPROVED', reason: 'Looks right', decidedBy: { name: DEMO.owner.name } });

    const finished = await eventually(async () => {
      const s = structured(await agentKey.callTool({ name: 'AgentRunStatus', arguments: { runId: run.id } })).data!.agentRun;
      return s.status === 'SUCCEEDED' ? s : null;
    }, 30_000, 300);
    expect(finished.result).toMatchObject({ posted: true, approvalId: approval.id });
    expect(finished.steps.map((x: { name: string }) => x.name)).toContain('request-send-approval');
  });
});

describe('boundaries', () => {
  it("another organization's ids → nothing leaks, nothing is written there", async () => {
    const client = await connect({ authorization: `ApiKey ${keys.write}` });
    const overview = await client.callTool({ name: 'CustomerOverview', arguments: { customerId: other.customerId } });
    expect(overview.isError).toBeFalsy();
    expect(structured(overview).data).toEqual({ customer: null, tasks: { totalCount: 0, edges: [] } });

    const signal = await client.callTool({ name: 'RecordSignal', arguments: { customerId: other.customerId, kind: 'NPS', value: 10 } });
    expect(signal.isError).toBe(true);
    expect(structured(signal).errors![0]!.code).toBe('NOT_FOUND');

    // tasks does not know customers: the task lands in the caller's organization, and the foreign id resolves to
    // nothing, exactly like an id that does not exist — org B sees no task and nothing of it is shown here.
    const task = await client.callTool({ name: 'CreateFollowUpTask', arguments: { customerId: other.customerId, title: 'Probe another org' } });
    expect(structured(task).data!.createTask.customer).toBeNull();
    const theirTasks = await gqlOk<{ tasks: { edges: Array<{ node: { title: string } }> } }>(t.gatewayUrl, `{ tasks(first: 100) { edges { node { title } } } }`, {}, {
      token: other.token,
    });
    expect(theirTasks.tasks.edges.map((e) => e.node.title)).not.toContain('Probe another org');

    for (const name of ['ListCustomers', 'FindAtRiskCustomers']) {
      expect(textOf(await client.callTool({ name, arguments: { first: 100 } }))).not.toContain(other.customerName);
    }
    const theirs = await gqlOk<{ customer: { healthHistory: unknown[] } }>(t.gatewayUrl, `query($id: ID!) { customer(id: $id) { healthHistory { score } } }`, { id: other.customerId }, {
      token: other.token,
    });
    expect(theirs.customer.healthHistory).toHaveLength(1);
  });

  it('a key whose client has not registered the tools → OPERATION_NOT_ALLOWED; an unknown key → UNAUTHENTICATED', async () => {
    const unregistered = await connect({ authorization: `ApiKey ${keys.unregistered}` });
    const r = await unregistered.callTool({ name: 'ListCustomers', arguments: {} });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/^OPERATION_NOT_ALLOWED: Operation is not registered for client zapier/);

    const unknown = await connect({ authorization: 'ApiKey cos_not_a_real_key_0000000000000000' });
    const u = await unknown.callTool({ name: 'ListCustomers', arguments: {} });
    expect(u.isError).toBe(true);
    expect(structured(u).errors![0]!.code).toBe('UNAUTHENTICATED');
  });

  it('a request without a key is refused with 401 before any tool runs', async () => {
    const res = await fetch(mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(401);
    expect((await res.json()).error.message).toMatch(/^UNAUTHENTICATED/);
  });
});

describe('MCP over stdio', () => {
  const stdio = (env: Record<string, string>) => {
    const transport = new StdioClientTransport({
      command: path.join(repoRoot, 'node_modules/.bin/tsx'),
      args: [path.join(repoRoot, 'mcp/src/index.ts'), '--stdio'],
      env: { PATH: process.env.PATH ?? '', COS_GRAPH_URL: t.gatewayUrl, LOG_LEVEL: 'info', ...env },
      stderr: 'pipe',
    });
    const out = { stderr: '' };
    transport.stderr?.on('data', (d: Buffer) => (out.stderr += d.toString()));
    const client = new Client({ name: 'mcp-e2e-stdio', version: '1.0.0' });
    clients.push(client);
    return { client, transport, out };
  };

  it('lists and calls tools with the key from COS_API_KEY (logs on stderr, stdout is the protocol)', async () => {
    const { client, transport, out } = stdio({ COS_API_KEY: keys.read });
    await client.connect(transport);
    expect((await client.listTools()).tools).toHaveLength(11);
    const r = await client.callTool({ name: 'FindAtRiskCustomers', arguments: { first: 5 } });
    expect(r.isError, textOf(r)).toBeFalsy();
    expect(structured(r).data!.customers.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual(['Umbrella']);
    const forbidden = await client.callTool({ name: 'RecordSignal', arguments: { customerId: structured(r).data!.customers.edges[0].node.id, kind: 'LOGIN', value: 3 } });
    expect(structured(forbidden).errors![0]!.code).toBe('FORBIDDEN');
    await client.close();
    expect(out.stderr).toMatch(/"msg":"tool call"/);
    expect(out.stderr).not.toContain(keys.read);
  });

  it('without a key the process refuses to start, saying what to set', async () => {
    const { client, transport, out } = stdio({});
    await expect(client.connect(transport)).rejects.toThrow();
    expect(out.stderr).toMatch(/No credential: set COS_API_KEY/);
  });
});
