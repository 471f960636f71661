import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { badInput } from '@cos/errors';
import { createLogger } from '@cos/logger';
import type { Logger } from '@cos/logger';
import { TEST_INTERNAL_SECRET, execSubgraph, signedHeaders, userPrincipal } from '@cos/testing';
import { createSubgraphServer, type BaseContext } from '../src/index';

const typeDefs = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
  enum Color { RED GREEN }
  type Query { echo(color: Color!): Color!  boom: String  bad: String  whoami: String  dbDown: String  dbRestarting: String }
`;

const server = createSubgraphServer<BaseContext>({
  name: 'kit-test',
  typeDefs,
  internalSecret: TEST_INTERNAL_SECRET,
  log: createLogger('kit-test', 'silent'),
  createContext: (base) => base,
  resolvers: {
    Query: {
      echo: (_: unknown, a: { color: string }) => a.color,
      boom: () => {
        throw new Error('relation "secret_table" does not exist at /srv/app.ts:12');
      },
      bad: () => {
        throw badInput('title', 'title must not be empty');
      },
      whoami: (_: unknown, __: unknown, ctx: BaseContext) => ctx.principal.kind,
      // What pg-pool throws while Postgres is down, and what a restarting server answers (pnpm chaos saw both).
      dbDown: () => {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', errno: -111 });
      },
      dbRestarting: () => {
        throw Object.assign(new Error('the database system is not yet accepting connections'), { code: '57P03', severity: 'FATAL' });
      },
    },
  },
});
const alice = userPrincipal('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000aa', 'MEMBER');

describe('subgraph server', () => {
  it('refuses a request without the gateway signature', async () => {
    const res = await server.yoga.fetch('http://x/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ whoami }' }),
    });
    expect(res.status).toBe(401);
    expect((await res.json()).errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('passes the verified principal to resolvers', async () => {
    expect((await execSubgraph(server.yoga, alice, '{ whoami }')).data).toEqual({ whoami: 'user' });
  });

  it('masks unexpected errors: no SQL, no stack, INTERNAL_SERVER_ERROR', async () => {
    const r = await execSubgraph(server.yoga, alice, '{ boom }');
    expect(r.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(JSON.stringify(r)).not.toMatch(/secret_table|app\.ts/);
  });

  it('answers a database outage as SERVICE_UNAVAILABLE (retryable, not "Unexpected error."), without details', async () => {
    for (const field of ['dbDown', 'dbRestarting']) {
      const r = await execSubgraph(server.yoga, alice, `{ ${field} }`);
      expect(r.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
      expect(r.errors?.[0]?.message).toBe('The kit-test service is unavailable: retry shortly');
      expect(JSON.stringify(r)).not.toMatch(/5432|ECONNREFUSED|accepting/);
    }
    // Any other unexpected error keeps the generic message.
    expect((await execSubgraph(server.yoga, alice, '{ boom }')).errors?.[0]?.message).toBe('Unexpected error.');
  });

  it('keeps our own errors with their code and field', async () => {
    const r = await execSubgraph(server.yoga, alice, '{ bad }');
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'title' });
  });

  it('answers BAD_USER_INPUT for a bad enum value in variables', async () => {
    const r = await execSubgraph(server.yoga, alice, 'query($c: Color!) { echo(color: $c) }', { c: 'BLUE' });
    expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('serves /healthz without a signature', async () => {
    const res = await server.yoga.fetch('http://x/healthz');
    expect(res.status).toBe(200);
  });
});

describe('request bodies and per-request logging', () => {
  const lines: Array<Record<string, unknown>> = [];
  // A logger that records child bindings with every line: enough to see what a resolver's ctx.log writes.
  const recorder = (bindings: Record<string, unknown>): Logger =>
    ({
      child: (more: Record<string, unknown>) => recorder({ ...bindings, ...more }),
      info: (obj: Record<string, unknown>, msg: string) => lines.push({ ...bindings, ...obj, msg }),
      warn: () => {},
      error: () => {},
      debug: () => {},
    }) as unknown as Logger;
  const small = createSubgraphServer<BaseContext>({
    name: 'kit-small',
    typeDefs: /* GraphQL */ `
      extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
      type Query { size(s: String!): Int!  logged: String }
    `,
    internalSecret: TEST_INTERNAL_SECRET,
    log: recorder({}),
    maxBodyBytes: 1_000,
    createContext: (base) => base,
    resolvers: {
      Query: {
        size: (_: unknown, a: { s: string }) => a.s.length,
        logged: (_: unknown, __: unknown, ctx: BaseContext) => {
          ctx.log.info({ what: 'resolver' }, 'hello');
          return 'ok';
        },
      },
    },
  });
  const body = (n: number) => JSON.stringify({ query: 'query($s: String!) { size(s: $s) }', variables: { s: 'x'.repeat(n) } });

  async function listen() {
    const http = createServer(small.yoga);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/graphql`, close: () => http.close() };
  }

  it('answers bodies within the limit and refuses larger ones by Content-Length (413) or a malformed length (400)', async () => {
    const s = await listen();
    try {
      const headers = { ...signedHeaders(alice), 'content-type': 'application/json' };
      const ok = await request(s.url, { method: 'POST', headers, body: body(500) });
      expect(ok.statusCode).toBe(200);
      expect(await ok.body.json()).toEqual({ data: { size: 500 } });
      const big = await request(s.url, { method: 'POST', headers, body: body(5_000) });
      expect(big.statusCode).toBe(413);
      await big.body.dump();
      const bad = await small.yoga.fetch('http://x/graphql', { method: 'POST', headers: { ...headers, 'content-length': '12, 12' }, body: body(10) });
      expect(bad.status).toBe(400);
    } finally {
      s.close();
    }
  });

  it('counts a body sent without Content-Length (chunked) and refuses it past the limit', async () => {
    const s = await listen();
    try {
      const headers = { ...signedHeaders(alice), 'content-type': 'application/json' };
      // A stream body has no length: undici sends it chunked.
      const chunked = (text: string) =>
        Readable.from(
          (function* () {
            for (let i = 0; i < text.length; i += 200) yield Buffer.from(text.slice(i, i + 200));
          })(),
        );
      const ok = await request(s.url, { method: 'POST', headers, body: chunked(body(300)) });
      expect(ok.statusCode).toBe(200);
      expect(await ok.body.json()).toEqual({ data: { size: 300 } });
      const big = await request(s.url, { method: 'POST', headers, body: chunked(body(50_000)) });
      expect(big.statusCode).toBe(413);
      await big.body.dump();
    } finally {
      s.close();
    }
  });

  it("ctx.log carries the request's ids", async () => {
    const res = await small.yoga.fetch('http://x/graphql', {
      method: 'POST',
      headers: { ...signedHeaders(alice), 'content-type': 'application/json', 'x-request-id': 'req-42', 'x-correlation-id': 'corr-7' },
      body: JSON.stringify({ query: '{ logged }' }),
    });
    expect(await res.json()).toEqual({ data: { logged: 'ok' } });
    expect(lines).toContainEqual(expect.objectContaining({ requestId: 'req-42', correlationId: 'corr-7', what: 'resolver', msg: 'hello' }));
  });
});
