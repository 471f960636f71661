import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { PRINCIPAL_HEADER, SIGNATURE_HEADER, verifyPrincipal, type Principal } from '@cos/auth';
import { createLogger } from '@cos/logger';
import { CosDataSource } from '../src/datasource';
import type { GatewayContext } from '../src/context';
import { createSubgraphHttp, type SubgraphHttp } from '../src/http';
import { isSharableOperation } from '../src/perf/inflight';
import { listen, SECRET, type Listening } from './fixtures';

/** A loopback "subgraph" that answers after 50 ms, echoes the verified principal and counts what it received. */
let server: Listening;
let http: SubgraphHttp;
const received: { query: string; principal: Principal | null }[] = [];

beforeAll(async () => {
  server = await listen((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const v = verifyPrincipal(req.headers[PRINCIPAL_HEADER] as string, req.headers[SIGNATURE_HEADER] as string, SECRET);
      const body = JSON.parse(raw) as { query: string; variables?: Record<string, unknown> };
      received.push({ query: body.query, principal: v.ok ? v.principal : null });
      setTimeout(() => {
        if (!v.ok) {
          res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ message: 'unsigned' }] }));
          return;
        }
        const who = v.principal.kind === 'user' ? v.principal.userId : v.principal.kind;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: { who, n: received.length, vars: body.variables ?? null } }));
      }, 50);
    });
  });
  http = createSubgraphHttp({ connections: 8, timeoutMs: 2_000 });
});
afterAll(async () => {
  await http.close();
  await server.close();
});

const log = createLogger('datasource-test');
const user = (userId: string): Principal => ({
  kind: 'user',
  userId,
  orgId: '00000000-0000-4000-8000-000000000001',
  role: 'MEMBER',
  scopes: [],
});
const ctx = (principal: Principal): GatewayContext => ({ principal, requestId: crypto.randomUUID(), correlationId: 'c1' }) as unknown as GatewayContext;
const call = (ds: CosDataSource, c: GatewayContext, query: string, variables?: Record<string, unknown>) =>
  ds.process({
    kind: 'incoming operation',
    request: { query, variables },
    context: c,
    incomingRequestContext: { context: c },
  } as unknown as GraphQLDataSourceProcessOptions<GatewayContext>);
const source = (dedupe?: boolean) =>
  new CosDataSource({ name: 'fake', url: `${server.url}/graphql`, secret: SECRET, fetcher: http.subgraphFetcher, timeoutMs: 2_000, log, dedupe });

describe('CosDataSource over undici request() with in-flight deduplication', () => {
  it('shares one round trip between identical concurrent reads of the same principal, with separate result objects', async () => {
    const ds = source();
    received.length = 0;
    const a = ctx(user('u-a'));
    const b = ctx(user('u-a'));
    const [r1, r2] = await Promise.all([call(ds, a, 'query Q { who }', { x: 1 }), call(ds, b, 'query Q { who }', { x: 1 })]);
    expect(received).toHaveLength(1);
    expect(r1).toEqual({ data: { who: 'u-a', n: 1, vars: { x: 1 } } });
    expect(r2).toEqual(r1);
    expect(r2).not.toBe(r1);
    expect(r2.data).not.toBe(r1.data);
    expect(ds.inflight?.joined).toBe(1);
    // settled: nothing is cached after the round trip
    await call(ds, a, 'query Q { who }', { x: 1 });
    expect(received).toHaveLength(2);
  });

  it('never shares between principals, different variables, or mutations', async () => {
    const ds = source();
    received.length = 0;
    const results = await Promise.all([
      call(ds, ctx(user('u-a')), '{ who }'),
      call(ds, ctx(user('u-b')), '{ who }'),
      call(ds, ctx(user('u-a')), '{ who }', { x: 2 }),
      call(ds, ctx(user('u-a')), 'mutation M { who }'),
      call(ds, ctx(user('u-a')), 'mutation M { who }'),
    ]);
    expect(received).toHaveLength(5);
    expect(results.map((r) => (r.data as { who: string }).who)).toEqual(['u-a', 'u-b', 'u-a', 'u-a', 'u-a']);
    expect(ds.inflight?.joined).toBe(0);
  });

  it('can be switched off', async () => {
    const ds = source(false);
    received.length = 0;
    await Promise.all([call(ds, ctx(user('u-a')), '{ who }'), call(ds, ctx(user('u-a')), '{ who }')]);
    expect(received).toHaveLength(2);
  });

  it('turns a refused signature into an INTERNAL_SERVER_ERROR for the subgraph fields', async () => {
    const ds = new CosDataSource({ name: 'fake', url: `${server.url}/graphql`, secret: 'wrong', fetcher: http.subgraphFetcher, timeoutMs: 2_000, log });
    const r = await call(ds, ctx(user('u-a')), '{ who }');
    expect(r.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(r.errors?.[0]?.message).toBe('The fake service is unavailable');
  });
});

describe('isSharableOperation', () => {
  it('accepts queries only', () => {
    expect(isSharableOperation('query A__users__1($r:[_Any!]!){_entities(representations:$r){__typename}}')).toBe(true);
    expect(isSharableOperation('{tasks{id}}')).toBe(true);
    expect(isSharableOperation('  query{a}')).toBe(true);
    expect(isSharableOperation('mutation M{a}')).toBe(false);
    expect(isSharableOperation('subscription S{a}')).toBe(false);
    expect(isSharableOperation('queryX')).toBe(false);
    expect(isSharableOperation(undefined)).toBe(false);
  });
});
