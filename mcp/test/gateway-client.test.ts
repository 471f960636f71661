/**
 * The gateway client against a local HTTP server standing in for the gateway's wire behaviour (what it receives,
 * and the failure modes a real gateway cannot be made to show on demand: silence, garbage, a closed port).
 * The real gateway is exercised end to end in e2e/mcp.e2e.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestFromBodies } from '@cos/persisted';
import { createGatewayClient, GatewayUnavailableError } from '../src/gateway-client';

const op = manifestFromBodies(['query Who($id: ID!) { user(id: $id) { id } }']).operations[0]!;
type Seen = { headers: IncomingMessage['headers']; body: Record<string, unknown> };
let seen: Seen[] = [];
let respond: (body: Record<string, unknown>, res: ServerResponse) => void = () => {};
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      seen.push({ headers: req.headers, body });
      respond(body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const reply = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};

describe('gateway client', () => {
  it('sends the document by id with the caller’s credential, the operation name and the variables', async () => {
    seen = [];
    respond = (_b, res) => reply(res, 200, { data: { user: { id: 'u1' } } }, { 'x-request-id': 'r-1' });
    const gw = createGatewayClient({ url, timeoutMs: 2_000 });
    const answer = await gw.execute(op, { id: 'u1' }, { kind: 'apiKey', secret: 'cos_secret' }, { requestId: 'r-1' });
    expect(answer).toEqual({ httpStatus: 200, data: { user: { id: 'u1' } }, requestId: 'r-1' });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers.authorization).toBe('ApiKey cos_secret');
    expect(seen[0]!.headers['x-request-id']).toBe('r-1');
    expect(seen[0]!.body).toEqual({ operationName: 'Who', variables: { id: 'u1' }, extensions: { persistedQuery: { version: 1, sha256Hash: op.id } } });
    expect(seen[0]!.body.query).toBeUndefined();

    await gw.execute(op, { id: 'u1' }, { kind: 'bearer', token: 'jwt' });
    expect(seen[1]!.headers.authorization).toBe('Bearer jwt');
  });

  it('registers the body once when the gateway does not know the document (APQ), then has the answer', async () => {
    seen = [];
    respond = (b, res) =>
      b.query ? reply(res, 200, { data: { user: null } }) : reply(res, 200, { errors: [{ message: 'PersistedQueryNotFound', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } }] });
    const answer = await createGatewayClient({ url, timeoutMs: 2_000 }).execute(op, { id: 'u1' }, { kind: 'bearer', token: 'jwt' });
    expect(answer.data).toEqual({ user: null });
    expect(seen.map((s) => s.body.query)).toEqual([undefined, op.body]);
  });

  it('keeps HTTP status and Retry-After of a refusal', async () => {
    respond = (_b, res) => reply(res, 429, { errors: [{ message: 'slow down', extensions: { code: 'RATE_LIMITED' } }] }, { 'retry-after': '3' });
    const answer = await createGatewayClient({ url, timeoutMs: 2_000 }).execute(op, {}, { kind: 'apiKey', secret: 'k' });
    expect(answer).toMatchObject({ httpStatus: 429, retryAfterS: 3, errors: [{ extensions: { code: 'RATE_LIMITED' } }] });
  });

  it('gives up after its timeout (the outcome of a mutation is then unknown)', async () => {
    respond = () => {}; // never answers
    const started = Date.now();
    const err = await createGatewayClient({ url, timeoutMs: 300 }).execute(op, {}, { kind: 'apiKey', secret: 'k' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayUnavailableError);
    expect((err as GatewayUnavailableError).message).toMatch(/did not answer within 300 ms/);
    expect((err as GatewayUnavailableError).outcomeUnknown).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('stops when the MCP request is cancelled', async () => {
    respond = () => {};
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const err = await createGatewayClient({ url, timeoutMs: 10_000 }).execute(op, {}, { kind: 'apiKey', secret: 'k' }, { signal: ac.signal }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/cancelled/);
  });

  it('an answer that is not GraphQL, or a closed port, is GatewayUnavailable', async () => {
    respond = (_b, res) => reply(res, 502, '<html>Bad gateway</html>', { 'content-type': 'text/html' });
    const bad = await createGatewayClient({ url, timeoutMs: 2_000 }).execute(op, {}, { kind: 'apiKey', secret: 'k' }).catch((e: unknown) => e);
    expect((bad as Error).message).toBe('The gateway answered HTTP 502 without a GraphQL response');
    const closed = await createGatewayClient({ url: 'http://127.0.0.1:1/graphql', timeoutMs: 2_000 })
      .execute(op, {}, { kind: 'apiKey', secret: 'k' })
      .catch((e: unknown) => e);
    expect(closed).toBeInstanceOf(GatewayUnavailableError);
    expect((closed as GatewayUnavailableError).outcomeUnknown).toBe(false);
    expect(await createGatewayClient({ url: 'http://127.0.0.1:1/graphql', timeoutMs: 2_000 }).ready()).toBe(false);
  });
});
