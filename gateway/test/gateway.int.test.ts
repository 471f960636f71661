import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scopesForRole } from '@cos/auth';
import { createLogger } from '@cos/logger';
import { createGateway, type Gateway } from '../src/server';
import {
  API_KEY_ORG,
  composeSupergraph,
  KNOWN_API_KEY,
  listen,
  startIssuer,
  startSubgraph,
  testGatewayEnv,
  type Listening,
  type TestIssuer,
} from './fixtures';

type GqlBody = { data?: Record<string, unknown> | null; errors?: Array<{ message: string; path?: unknown[]; extensions?: Record<string, unknown> }> };

let accounts: Awaited<ReturnType<typeof startSubgraph>>;
let posts: Awaited<ReturnType<typeof startSubgraph>>;
let issuer: TestIssuer;
let redis: Redis;
let gateway: Gateway;
let http: Listening;
/** Every line the gateway logs, parsed (pino writes to this stream synchronously). */
const logLines: Array<{ level: number; msg: string; code?: string; err?: { message: string; stack?: string } }> = [];

const TIMEOUT_MS = 500;

beforeAll(async () => {
  [accounts, posts, issuer] = await Promise.all([startSubgraph('accounts'), startSubgraph('posts'), startIssuer()]);
  const dir = await mkdtemp(path.join(tmpdir(), 'gw-test-'));
  const supergraphPath = path.join(dir, 'supergraph.graphql');
  await writeFile(supergraphPath, composeSupergraph([accounts, posts]));
  redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  gateway = await createGateway({
    // Uploads capped small here so that a multipart body over its cap (2 × 100 kB + MAX_BODY_BYTES) is quick to send.
    env: testGatewayEnv({ supergraphPath, jwksUrl: issuer.jwksUrl, IDENTITY_INTERNAL_URL: accounts.url, SUBGRAPH_TIMEOUT_MS: TIMEOUT_MS, UPLOAD_MAX_BYTES: 100_000, UPLOAD_MAX_FILES: 2 }),
    log: createLogger('gateway-test', 'info', { write: (line: string) => void logLines.push(JSON.parse(line)) }),
    redis,
  });
  http = await listen(gateway.yoga);
});

afterAll(async () => {
  await http?.close();
  await gateway?.close();
  redis?.disconnect();
  await Promise.all([accounts?.close(), posts?.close(), issuer?.close()]);
});

async function post(body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${http.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as GqlBody };
}

const gql = (query: string, variables?: Record<string, unknown>, headers?: Record<string, string>) =>
  post({ query, variables }, headers);

/**
 * GraphQL-over-HTTP: a document that does not parse or validate is 400 for `application/graphql-response+json`
 * and 200 with `errors` (no `data`) for `application/json`; both carry the same errors.
 */
async function refused(query: string) {
  const modern = await gql(query, undefined, { accept: 'application/graphql-response+json' });
  const legacy = await gql(query);
  expect(modern.status).toBe(400);
  expect(legacy.status).toBe(200);
  expect(legacy.body.data).toBeUndefined();
  expect(legacy.body.errors).toEqual(modern.body.errors);
  return modern;
}

describe('federated execution', () => {
  it('runs a query that crosses both subgraphs and signs the (anonymous) principal into every subgraph call', async () => {
    const before = { a: accounts.seen.length, p: posts.seen.length };
    const res = await gql('{ posts { title author { name posts { id } } } }');
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data).toEqual({
      posts: [
        { title: 'Hello', author: { name: 'Ada', posts: [{ id: 'p1' }, { id: 'p3' }] } },
        { title: 'Federation', author: { name: 'Grace', posts: [{ id: 'p2' }] } },
        { title: 'Again', author: { name: 'Ada', posts: [{ id: 'p1' }, { id: 'p3' }] } },
      ],
    });
    // posts → accounts (_entities) → posts (_entities): both subgraphs were called, every call verified.
    expect(accounts.seen.length).toBeGreaterThan(before.a);
    expect(posts.seen.length).toBeGreaterThan(before.p);
    for (const s of [...accounts.seen.slice(before.a), ...posts.seen.slice(before.p)]) {
      // The client IP travels in the signed principal (identity throttles sign-ins per IP).
      expect(s.principal).toEqual({ kind: 'anonymous', ip: expect.stringMatching(/127\.0\.0\.1|::1/) });
    }
  });

  it('forwards request id, correlation id and traceparent to subgraphs and echoes x-request-id', async () => {
    const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    const before = accounts.seen.length;
    const res = await gql('{ viewer { kind } }', undefined, { 'x-request-id': 'req-123', 'x-correlation-id': 'corr-9', traceparent });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-123');
    const seen = accounts.seen.slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers['x-request-id']).toBe('req-123');
    expect(seen[0]!.headers['x-correlation-id']).toBe('corr-9');
    expect(seen[0]!.headers.traceparent).toBe(traceparent);
  });

  it('generates a request id when the client sends none (or a malformed one)', async () => {
    const res = await gql('{ viewer { kind } }', undefined, { 'x-request-id': 'bad id\twith spaces' });
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(accounts.seen.at(-1)!.headers['x-correlation-id']).toBe(id);
  });

  it('serves GET for queries and refuses GET for mutations', async () => {
    const q = encodeURIComponent('{ posts { id } }');
    const get = await fetch(`${http.url}/graphql?query=${q}`, { headers: { accept: 'application/json' } });
    expect(get.status).toBe(200);
    expect(((await get.json()) as GqlBody).data?.posts).toHaveLength(3);

    const m = encodeURIComponent('mutation { addPost(title: "x") { id } }');
    const getMutation = await fetch(`${http.url}/graphql?query=${m}`, { headers: { accept: 'application/json' } });
    expect(getMutation.status).toBe(405);
    const postMutation = await gql('mutation { addPost(title: "x") { title author { name } } }');
    expect(postMutation.body.data).toEqual({ addPost: { title: 'x', author: { name: 'Ada' } } });
  });

  it('speaks application/graphql-response+json when asked', async () => {
    const res = await fetch(`${http.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query: '{ posts { id } }' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/graphql-response+json');
  });
});

describe('authentication', () => {
  const userId = randomUUID();
  const orgId = randomUUID();

  it('a valid access token reaches the subgraph as a signed user principal with the role’s scopes', async () => {
    const token = await issuer.sign({ sub: userId, org: orgId, role: 'MEMBER' });
    const before = accounts.seen.length;
    const res = await gql('{ viewer { kind id orgId role scopes } }', undefined, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    expect(res.body.data?.viewer).toEqual({ kind: 'user', id: userId, orgId, role: 'MEMBER', scopes: scopesForRole('MEMBER') });
    expect(accounts.seen.slice(before)[0]!.principal).toEqual({
      kind: 'user',
      userId,
      orgId,
      role: 'MEMBER',
      scopes: scopesForRole('MEMBER'),
      ip: expect.stringMatching(/127\.0\.0\.1|::1/),
    });
  });

  it('no credentials → anonymous', async () => {
    const res = await gql('{ viewer { kind id } }');
    expect(res.body.data?.viewer).toEqual({ kind: 'anonymous', id: null });
  });

  const refused = async (authorization: string) => {
    const before = accounts.seen.length + posts.seen.length;
    const res = await gql('{ viewer { kind } }', undefined, { authorization });
    expect(res.status).toBe(401);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(res.body.data).toBeUndefined();
    // refused before execution: no subgraph saw the request
    expect(accounts.seen.length + posts.seen.length).toBe(before);
  };

  it('garbage token → 401', () => refused('Bearer not.a.jwt'));

  it('expired token (beyond the 30 s tolerance) → 401', async () => {
    const token = await issuer.sign({ sub: userId, org: orgId, role: 'OWNER' }, { expiresIn: Math.floor(Date.now() / 1000) - 120 });
    await refused(`Bearer ${token}`);
  });

  it('alg none token → 401', async () => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const exp = Math.floor(Date.now() / 1000) + 600;
    const token = `${b64({ alg: 'none', typ: 'JWT', kid: issuer.kid })}.${b64({ sub: userId, org: orgId, role: 'OWNER', iss: 'cos-identity', aud: 'cos-graph', exp })}.`;
    await refused(`Bearer ${token}`);
  });

  it('token signed by another key under the same kid → 401', async () => {
    const other = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const token = await issuer.sign({ sub: userId, org: orgId, role: 'OWNER' }, { key: other.privateKey });
    await refused(`Bearer ${token}`);
  });

  it('wrong audience or issuer → 401', async () => {
    await refused(`Bearer ${await issuer.sign({ sub: userId, org: orgId, role: 'OWNER' }, { audience: 'someone-else' })}`);
    await refused(`Bearer ${await issuer.sign({ sub: userId, org: orgId, role: 'OWNER' }, { issuer: 'evil' })}`);
  });

  it('unknown role claim or unsupported scheme → 401', async () => {
    await refused(`Bearer ${await issuer.sign({ sub: userId, org: orgId, role: 'GOD' })}`);
    await refused('Basic dXNlcjpwYXNz');
  });

  it('partner API key (Authorization: ApiKey or X-API-Key) → apiKey principal, verified once then cached in Redis', async () => {
    const calls = accounts.verifyCalls;
    // Partners are safelist-only: they send registered documents by id.
    const byId = (q: string) => ({ documentId: createHash('sha256').update(q).digest('hex') });
    const a = await post(byId('{ viewer { kind id orgId scopes } }'), { authorization: `ApiKey ${KNOWN_API_KEY}` });
    expect(a.status).toBe(200);
    expect(a.body.data?.viewer).toEqual({ kind: 'apiKey', id: 'key-1', orgId: API_KEY_ORG, scopes: ['tasks:read'] });
    const b = await post(byId('{ viewer { kind id } }'), { 'x-api-key': KNOWN_API_KEY });
    expect(b.body.data?.viewer).toEqual({ kind: 'apiKey', id: 'key-1' });
    expect(accounts.verifyCalls).toBe(calls + 1);
  });

  it('unknown API key → 401', async () => {
    await refused(`ApiKey cos_nope_${randomBytes(8).toString('hex')}`);
    const res = await gql('{ viewer { kind } }', undefined, { 'x-api-key': 'cos_nope_x' });
    expect(res.status).toBe(401);
  });
});

describe('errors', () => {
  it('propagates subgraph error codes unchanged (NOT_FOUND, CONFLICT with currentVersion) at their paths', async () => {
    const res = await gql('{ missing stale posts { id } }');
    expect(res.status).toBe(200);
    expect(res.body.data?.posts).toHaveLength(3);
    const byPath = Object.fromEntries((res.body.errors ?? []).map((e) => [String(e.path?.[0]), e]));
    expect(byPath.missing?.extensions).toEqual({ code: 'NOT_FOUND' });
    expect(byPath.stale?.extensions).toEqual({ code: 'CONFLICT', currentVersion: 7 });
  });

  it('masks unexpected subgraph errors: INTERNAL_SERVER_ERROR, no SQL, no stack', async () => {
    const res = await gql('{ leaky viewer { kind } }');
    expect(res.body.data?.viewer).toEqual({ kind: 'anonymous' });
    expect(res.body.errors).toHaveLength(1);
    const err = res.body.errors![0]!;
    expect(err.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(JSON.stringify(res.body)).not.toMatch(/secret_table|SELECT|stack|serviceName/i);
  });

  it('a subgraph that does not answer in time becomes an error at its fields, not a hung request', async () => {
    const started = Date.now();
    const res = await gql('{ viewer { kind } slow }');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(TIMEOUT_MS + 1_500);
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ viewer: { kind: 'anonymous' }, slow: null });
    expect(res.body.errors?.[0]?.message).toMatch(/posts service did not answer in time/);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
  });

  it('a GraphQL syntax error → GRAPHQL_VALIDATION_FAILED (400, or 200 for application/json)', async () => {
    const res = await refused('{ posts { id }');
    expect(res.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(res.body.errors?.[0]?.message).toMatch(/Syntax Error/);
  });

  it('malformed JSON → 400 with a clear message (for every media type: not a well-formed request)', async () => {
    const res = await post('{"query": "{ posts { id } }"');
    expect(res.status).toBe(400);
    expect((await post('{"query": "{ posts { id } }"', { accept: 'application/graphql-response+json' })).status).toBe(400);
    expect((await post({ variables: {} })).status).toBe(400);
    expect(res.body.errors?.[0]?.message).toMatch(/invalid JSON/i);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('an unknown field → GRAPHQL_VALIDATION_FAILED (400, or 200 for application/json) without "did you mean" schema hints', async () => {
    const res = await refused('{ post { id } }');
    expect(res.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(res.body.errors?.[0]?.message).not.toMatch(/Did you mean/);
  });

  it('a variable of the wrong type → BAD_USER_INPUT naming the variable', async () => {
    const res = await gql('query Q($id: ID!) { user(id: $id) { name } }', { id: { nested: true } });
    expect(res.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
  });

  it('a client that aborts an upload mid-body leaves the gateway serving (no unhandled rejection)', async () => {
    // Found while testing body limits: busboy's error ended the parse first and the file's staging task then failed
    // with nobody awaiting it, an unhandled rejection (which ends a Node 20 process; vitest fails the run on it).
    const token = await issuer.sign({ sub: randomUUID(), org: randomUUID(), role: 'MEMBER' });
    const boundary = 'cosboundary';
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{"query":"mutation ($f: Upload!) { upload(file: $f) }","variables":{"f":null}}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{"0":["variables.f"]}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="0"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n${'a'.repeat(5000)}`,
    );
    const aborter = new AbortController();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(head); // ...and the rest never comes: the client gives up
        setTimeout(() => aborter.abort(), 300);
      },
    });
    const headers = { accept: 'application/json', 'content-type': `multipart/form-data; boundary=${boundary}`, authorization: `Bearer ${token}`, 'apollo-require-preflight': 'true' };
    await expect(fetch(`${http.url}/graphql`, { method: 'POST', signal: aborter.signal, headers, body, duplex: 'half' } as RequestInit)).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 500));
    const after = await post({ query: '{ __typename }' });
    expect(after.status).toBe(200);
  });

  it('a body over 1 MB → 413', async () => {
    const res = await post({ query: `{ posts { id } } # ${'x'.repeat(1_100_000)}` });
    expect(res.status).toBe(413);
  });

  describe('chunked bodies (no Content-Length) are bounded by the gateway itself', () => {
    /** POSTs `total` bytes (`head`, then filler) in 64 KiB chunks with Transfer-Encoding: chunked. */
    const chunkedPost = async (headers: Record<string, string>, head: string, total: number) => {
      let sent = 0;
      const first = Buffer.from(head);
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 0) {
            controller.enqueue(first);
            sent = first.length;
          } else if (sent < total) {
            const n = Math.min(65_536, total - sent);
            controller.enqueue(Buffer.alloc(n, 0x20)); // spaces: JSON whitespace, a multipart epilogue
            sent += n;
          } else controller.close();
        },
      });
      try {
        const res = await fetch(`${http.url}/graphql`, { method: 'POST', headers: { accept: 'application/json', ...headers }, body, duplex: 'half' } as RequestInit);
        return { status: res.status, body: (await res.json()) as GqlBody };
      } catch {
        // The gateway may answer 413 and close before the client has sent everything: what counts is that it refused.
        return { status: 413, body: {} as GqlBody };
      }
    };

    it('JSON: answered under MAX_BODY_BYTES, 413 over it', async () => {
      const small = await chunkedPost({ 'content-type': 'application/json' }, '{"query":"{ posts { id } }"}', 20_000);
      expect(small.status).toBe(200);
      expect(small.body.data?.posts).toHaveLength(3);
      const big = await chunkedPost({ 'content-type': 'application/json' }, '{"query":"{ posts { id } }"}', 1_500_000);
      expect(big.status).toBe(413);
      // Refused with Connection: close: the client's next requests do not land on a connection the gateway left (kept
      // alive, the second refusal's connection reset the request after it).
      expect((await chunkedPost({ 'content-type': 'application/json' }, '{"query":"{ posts { id } }"}', 1_500_000)).status).toBe(413);
      const again = await chunkedPost({ 'content-type': 'application/json' }, '{"query":"{ posts { id } }"}', 20_000);
      expect(again.status).toBe(200);
    });

    it('multipart: read and parsed under its cap, refused with 413 (BAD_USER_INPUT, field body) over it', async () => {
      const token = await issuer.sign({ sub: randomUUID(), org: randomUUID(), role: 'MEMBER' });
      const boundary = 'cosboundary';
      const headers = { 'content-type': `multipart/form-data; boundary=${boundary}`, authorization: `Bearer ${token}`, 'apollo-require-preflight': 'true' };
      // Filler after the closing boundary (the epilogue): busboy skips it, only the byte count can stop it.
      const form =
        `--${boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{"query":"{ posts { id } }","variables":{}}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{}\r\n--${boundary}--\r\n`;
      const small = await chunkedPost(headers, form, 50_000);
      expect(small.status).toBe(200);
      expect(small.body.data?.posts).toHaveLength(3);
      const big = await chunkedPost(headers, form, 3_000_000);
      expect(big.status).toBe(413);
      if (big.body.errors) expect(big.body.errors[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'body' });
      expect((await chunkedPost(headers, form, 50_000)).status).toBe(200);
    });
  });
});

describe('logs by whose fault it is', () => {
  const ERROR = 50;
  async function linesDuring(fn: () => Promise<unknown>) {
    const from = logLines.length;
    await fn();
    return logLines.slice(from);
  }

  it('client mistakes are logged at info with their code, never at error', async () => {
    const lines = await linesDuring(async () => {
      await gql('{ missing stale }'); // the subgraph's NOT_FOUND and CONFLICT (as identity's wrong password, email taken)
      await post('{"query": "{ posts { id } }"'); // POST body sent invalid JSON
      await gql('{ posts { id }'); // syntax error
      await gql('{ post { id } }'); // unknown field (refused at validation, before masking: not logged at all)
      await gql('query Q($id: ID!) { user(id: $id) { name } }', { id: { nested: true } }); // variable of the wrong type
    });
    expect(lines.filter((l) => l.level >= ERROR)).toEqual([]);
    const info = lines.filter((l) => l.level === 30);
    expect(info.map((l) => l.code).sort()).toEqual(['BAD_USER_INPUT', 'CONFLICT', 'GRAPHQL_VALIDATION_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'NOT_FOUND']);
    expect(info.map((l) => l.msg)).toContain('POST body sent invalid JSON.');
  });

  it('an internal fault is still logged at error — once, with what went wrong and where', async () => {
    const lines = await linesDuring(() => gql('{ leaky viewer { kind } }'));
    const errors = lines.filter((l) => l.level >= ERROR);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toBe('unexpected error (masked)');
    expect(errors[0]!.err?.message).toContain('secret_table');
  });

  it('an INTERNAL_SERVER_ERROR raised (and logged) elsewhere is passed on at warn, not logged as a second error', async () => {
    const lines = await linesDuring(() => gql('{ viewer { kind } slow }'));
    expect(lines.filter((l) => l.level >= ERROR)).toEqual([]);
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual(
      expect.arrayContaining(['subgraph fetch timed out', expect.stringMatching(/posts service did not answer in time/)]),
    );
  });
});

describe('limits', () => {
  it('a depth bomb → QUERY_TOO_COMPLEX, nothing sent to subgraphs', async () => {
    const before = accounts.seen.length + posts.seen.length;
    let sel = 'id';
    for (let i = 0; i < 7; i++) sel = `posts { author { ${sel} } }`;
    const res = await refused(`{ ${sel} }`);
    expect(res.body.errors?.some((e) => e.extensions?.code === 'QUERY_TOO_COMPLEX' && /depth/i.test(e.message))).toBe(true);
    expect(accounts.seen.length + posts.seen.length).toBe(before);
  });

  it('an alias bomb → QUERY_TOO_COMPLEX', async () => {
    const aliases = Array.from({ length: 16 }, (_, i) => `a${i}: posts { id }`).join(' ');
    const res = await refused(`{ ${aliases} }`);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
    expect(res.body.errors?.[0]?.message).toMatch(/alias/i);
  });

  it('a token bomb → QUERY_TOO_COMPLEX', async () => {
    const res = await refused(`{ posts { ${'id '.repeat(2_100)} } }`);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
    expect(res.body.errors?.[0]?.message).toMatch(/token/i);
  });

  it('a directive bomb → QUERY_TOO_COMPLEX', async () => {
    const res = await refused(`{ posts { id ${'@skip(if: false) '.repeat(21)} } }`);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
  });

  it('queries within the limits still run (11 levels deep, 15 aliases)', async () => {
    const aliases = Array.from({ length: 15 }, (_, i) => `a${i}: posts { id }`).join(' ');
    const res = await gql(`{ ${aliases} }`);
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
  });
});

describe('health', () => {
  it('/healthz is live; /readyz is ready while every subgraph answers', async () => {
    expect((await fetch(`${http.url}/healthz`)).status).toBe(200);
    const res = await fetch(`${http.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', supergraph: 'loaded', subgraphs: { accounts: 'ok', posts: 'ok' } });
  });

  it('/readyz is 503 naming the subgraph that is down (and ready again once it is back)', async () => {
    const port = posts.port;
    await posts.close();
    const down = await fetch(`${http.url}/readyz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ status: 'unavailable', subgraphs: { accounts: 'ok', posts: 'unreachable' } });
    posts = await startSubgraph('posts', port);
    const up = await fetch(`${http.url}/readyz`);
    expect(up.status).toBe(200);
  });

  it('/readyz is 503 while draining', async () => {
    gateway.drain();
    const res = await fetch(`${http.url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'draining' });
  });
});
