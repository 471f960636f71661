/**
 * The Streamable HTTP transport in process, driven by the SDK's own client. The gateway here is a closed port: what
 * is tested is the transport's own behaviour (credentials, origins, methods, health, argument checks, errors when
 * the gateway is down). Tool calls against the real stack: e2e/mcp.e2e.ts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@cos/logger';
import { createGatewayClient } from '../src/gateway-client';
import { createHttpHandler } from '../src/http';
import { INSTRUCTIONS } from '../src/mcp-server';
import { createToolMetrics } from '../src/metrics';
import { loadToolset } from '../src/tools';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let server: Server;
let base: string;
let drain: () => void;

beforeAll(async () => {
  const toolset = await loadToolset(path.join(root, 'schema/persisted/mcp.json'), path.join(root, 'schema/supergraph.graphql'));
  const deps = {
    toolset,
    gateway: createGatewayClient({ url: 'http://127.0.0.1:1/graphql', timeoutMs: 1_000 }),
    log: createLogger('mcp-test', 'silent'),
  };
  const http = createHttpHandler({ deps, metrics: createToolMetrics(), allowedOrigins: ['https://assistant.example'], maxBodyBytes: 10_000 });
  drain = http.drain;
  server = createServer(http.handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function connect(headers: Record<string, string>) {
  const client = new Client({ name: 'http-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers } }));
  return client;
}

const initialize = (headers: Record<string, string> = {}, body?: string) =>
  fetch(`${base}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body:
      body ??
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
  });

describe('MCP over Streamable HTTP', () => {
  it('lists the tools and the instructions to a client with a key', async () => {
    const client = await connect({ authorization: 'ApiKey cos_test_key' });
    expect(client.getInstructions()).toBe(INSTRUCTIONS);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('FindAtRiskCustomers');
    expect(tools.find((t) => t.name === 'RecordSignal')!.inputSchema.required).toEqual(['customerId', 'kind', 'value']);
    await client.close();
  });

  it('refuses a request without a credential, or with a malformed one, with 401 and a clear message', async () => {
    const none = await initialize();
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^ApiKey/);
    expect((await none.json()).error.message).toMatch(/^UNAUTHENTICATED: No credential: send "Authorization: ApiKey <key>"/);
    const basic = await initialize({ authorization: 'Basic dXNlcjpwYXNz' });
    expect(basic.status).toBe(401);
    expect((await basic.json()).error.message).toMatch(/must be "ApiKey <key>" or "Bearer <access token>"/);
    await expect(connect({})).rejects.toThrow(/401|UNAUTHENTICATED/);
    expect((await initialize({ 'x-api-key': 'cos_test_key' })).status).toBe(200);
  });

  it('refuses browser origins that are not allowed, and methods other than POST', async () => {
    const evil = await initialize({ authorization: 'ApiKey k', origin: 'https://evil.example' });
    expect(evil.status).toBe(403);
    expect((await initialize({ authorization: 'ApiKey k', origin: 'https://assistant.example' })).status).toBe(200);
    const get = await fetch(`${base}/mcp`, { headers: { authorization: 'ApiKey k', accept: 'text/event-stream' } });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  it('answers 413 for a body over the limit', async () => {
    const res = await initialize({ authorization: 'ApiKey k' }, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(20_000) } }));
    expect(res.status).toBe(413);
  });

  it('checks arguments before calling the gateway: BAD_USER_INPUT naming the problem', async () => {
    const client = await connect({ authorization: 'ApiKey k' });
    const r = await client.callTool({ name: 'RecordSignal', arguments: { customerId: 'c1', kind: 'HAPPY', value: 1 } });
    expect(r.isError).toBe(true);
    expect((r.content as Array<{ text: string }>)[0]!.text).toMatch(/^BAD_USER_INPUT: Invalid arguments: arguments\/kind must be equal to one of the allowed values/);
    await expect(client.callTool({ name: 'DropAllTables', arguments: {} })).rejects.toThrow(/Unknown tool: DropAllTables/);
    await client.close();
  });

  it('a gateway that cannot be reached → GATEWAY_UNAVAILABLE tool error; readiness 503, liveness 200; metrics count it', async () => {
    const client = await connect({ authorization: 'ApiKey k' });
    const r = await client.callTool({ name: 'CreateFollowUpTask', arguments: { customerId: 'c1', title: 'Call them' } });
    expect(r.isError).toBe(true);
    expect((r.content as Array<{ text: string }>)[0]!.text).toMatch(/^GATEWAY_UNAVAILABLE: The gateway is unreachable/);
    await client.close();
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/cos_mcp_tool_call_duration_seconds_count\{service="mcp",tool="CreateFollowUpTask",outcome="GATEWAY_UNAVAILABLE"\} 1/);
    expect(metrics).toMatch(/cos_mcp_tool_call_duration_seconds_count\{service="mcp",tool="RecordSignal",outcome="BAD_USER_INPUT"\} 1/);
  });

  it('draining: readiness says so', async () => {
    drain();
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'draining' });
  });
});
