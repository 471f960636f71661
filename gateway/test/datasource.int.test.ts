import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { PRINCIPAL_HEADER, SIGNATURE_HEADER, verifyPrincipal, type Principal } from '@cos/auth';
import { createLogger } from '@cos/logger';
import { CosDataSource } from '../src/execution/datasource';
import type { GatewayContext } from '../src/context';
import { BrokenCircuitError } from 'cockatiel';
import { createSubgraphHttp, isConnectionError, isTimeoutError, withCircuitBreaker, type SubgraphHttp } from '../src/execution/http';
import { isSharableOperation } from '../src/execution/inflight';
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

  it('gives every caller that joined a round trip the whole answer, however many joined (each reads its own copy)', async () => {
    const ds = source();
    received.length = 0;
    const c = () => ctx(user('u-a'));
    const results = await Promise.all([1, 2, 3, 4].map(() => call(ds, c(), 'query J { who }', { j: 1 })));
    expect(received).toHaveLength(1);
    expect(ds.inflight?.joined).toBe(3);
    for (const r of results) expect(r).toEqual({ data: { who: 'u-a', n: 1, vars: { j: 1 } } });
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

/**
 * A loopback "subgraph" answering `_entities` by echo: each representation `{ __typename, id }` resolves to
 * `{ id, tags: [id] }`, except id `bad` (null plus an error at its index). It answers the plain shape
 * (`$representations` → `_entities`) and the aliased one the batcher builds (`$r0`, `$r1` → `e0`, `e1`).
 */
describe('CosDataSource entity batching (one client request, one subgraph)', () => {
  let entities: Listening;
  const bodies: { query: string; variables: Record<string, Array<{ id: string }>>; principal: Principal | null }[] = [];
  beforeAll(async () => {
    entities = await listen((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const v = verifyPrincipal(req.headers[PRINCIPAL_HEADER] as string, req.headers[SIGNATURE_HEADER] as string, SECRET);
        const body = JSON.parse(raw) as { query: string; variables: Record<string, Array<{ id: string }>> };
        bodies.push({ ...body, principal: v.ok ? v.principal : null });
        if (body.query.includes('fail')) {
          res.writeHead(502).end('bad gateway');
          return;
        }
        const data: Record<string, unknown> = {};
        const errors: { message: string; path: (string | number)[] }[] = [];
        for (const [name, reps] of Object.entries(body.variables)) {
          const alias = name === 'representations' ? '_entities' : `e${name.slice(1)}`;
          data[alias] = reps.map((r, i) => {
            if (r.id !== 'bad') return { id: r.id, tags: [r.id] };
            errors.push({ message: `cannot resolve ${r.id}`, path: [alias, i, 'id'] });
            return null;
          });
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(errors.length ? { data, errors } : { data }));
      });
    });
  });
  afterAll(() => entities.close());

  const entitySource = (batchEntities?: boolean) =>
    new CosDataSource({ name: 'ents', url: `${entities.url}/graphql`, secret: SECRET, fetcher: http.subgraphFetcher, timeoutMs: 2_000, log, batchEntities });
  const userQuery = (name: string) => `query ${name}($representations:[_Any!]!){_entities(representations:$representations){...on User{id tags}}}`;
  const taskQuery = 'query T__ents__3($representations:[_Any!]!){_entities(representations:$representations){...on Task{id}}}';
  const reps = (...ids: string[]) => ({ representations: ids.map((id) => ({ __typename: 'User', id })) });
  type Ents = { _entities: Array<{ id: string; tags: string[] } | null> };

  it('sends same-selection fetches as one request with de-duplicated representations, each caller in its own order', async () => {
    const ds = entitySource();
    bodies.length = 0;
    const c = ctx(user('u-a'));
    const [a, b] = await Promise.all([
      call(ds, c, userQuery('Q__ents__1'), reps('u1', 'u2', 'u1')),
      call(ds, c, userQuery('Q__ents__2'), reps('u3', 'u1')),
    ]);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]?.variables.representations?.map((r) => r.id)).toEqual(['u1', 'u2', 'u3']);
    expect(a).toEqual({ data: { _entities: [{ id: 'u1', tags: ['u1'] }, { id: 'u2', tags: ['u2'] }, { id: 'u1', tags: ['u1'] }] } });
    expect(b).toEqual({ data: { _entities: [{ id: 'u3', tags: ['u3'] }, { id: 'u1', tags: ['u1'] }] } });
    // @apollo/gateway merges into what it gets: no two positions may share an object, within or across callers.
    const all = [...(a.data as Ents)._entities, ...(b.data as Ents)._entities];
    expect(new Set(all).size).toBe(5);
    expect(new Set(all.map((e) => e?.tags)).size).toBe(5);
    expect(ds.entityBatchStats).toMatchObject({ fetches: 2, requests: 1, merged: 2, representationsDeduplicated: 2 });
  });

  it('sends different selections as aliased fields of one request and re-paths entity errors to every caller position', async () => {
    const ds = entitySource();
    bodies.length = 0;
    const c = ctx(user('u-a'));
    const [a, t, b] = await Promise.all([
      call(ds, c, userQuery('Q__ents__1'), reps('bad', 'u1')),
      call(ds, c, taskQuery, { representations: [{ __typename: 'Task', id: 't1' }] }),
      call(ds, c, userQuery('Q__ents__2'), reps('u2', 'bad', 'bad')),
    ]);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]?.query).toBe(
      'query Q__ents__1($r0:[_Any!]!,$r1:[_Any!]!){e0:_entities(representations:$r0){...on User{id tags}} e1:_entities(representations:$r1){...on Task{id}}}',
    );
    expect(a).toEqual({
      data: { _entities: [null, { id: 'u1', tags: ['u1'] }] },
      errors: [{ message: 'cannot resolve bad', path: ['_entities', 0, 'id'] }],
    });
    expect(b).toEqual({
      data: { _entities: [{ id: 'u2', tags: ['u2'] }, null, null] },
      errors: [
        { message: 'cannot resolve bad', path: ['_entities', 1, 'id'] },
        { message: 'cannot resolve bad', path: ['_entities', 2, 'id'] },
      ],
    });
    expect(t).toEqual({ data: { _entities: [{ id: 't1', tags: ['t1'] }] } });
  });

  it('keeps fetches of different client requests, mutations and conflicting fragments apart', async () => {
    const ds = entitySource();
    bodies.length = 0;
    const c = ctx(user('u-a'));
    const withFragment = (body: string) =>
      `query F($representations:[_Any!]!){_entities(representations:$representations){...U}} fragment U on User{${body}}`;
    const mutation = 'mutation M($representations:[_Any!]!){_entities(representations:$representations){...on User{id}}}';
    await Promise.all([
      call(ds, ctx(user('u-a')), userQuery('A'), reps('u1')),
      call(ds, ctx(user('u-b')), userQuery('A'), reps('u1')),
      call(ds, c, mutation, reps('u1')),
      call(ds, c, mutation, reps('u1')),
      call(ds, c, withFragment('id'), reps('u1')),
      call(ds, c, withFragment('id tags'), reps('u2')),
    ]);
    // two requests (one per client request), two mutations, two operations whose fragment U differs
    expect(bodies).toHaveLength(6);
    expect(bodies.filter((b) => b.query.startsWith('query A')).map((b) => (b.principal?.kind === 'user' ? b.principal.userId : null)).sort()).toEqual(['u-a', 'u-b']);
  });

  it('hands a transport failure to every caller of the merged request as a GraphQL error', async () => {
    const ds = entitySource();
    const c = ctx(user('u-a'));
    const failing = (name: string) => `query ${name}($representations:[_Any!]!){_entities(representations:$representations){...on User{fail}}}`;
    const results = await Promise.all([call(ds, c, failing('X1'), reps('u1')), call(ds, c, failing('X2'), reps('u2'))]);
    for (const r of results) expect(r.errors?.[0]?.message).toBe('The ents service is unavailable');
    expect(ds.entityBatchStats.requests).toBe(1);
  });

  it('still shares a merged request with an identical one of the same principal in flight', async () => {
    const ds = entitySource();
    bodies.length = 0;
    const page = (c: GatewayContext) => Promise.all([call(ds, c, userQuery('P1'), reps('u1')), call(ds, c, userQuery('P2'), reps('u2'))]);
    const [a, b] = await Promise.all([page(ctx(user('u-a'))), page(ctx(user('u-a')))]);
    expect(bodies).toHaveLength(1);
    expect(ds.inflight?.joined).toBe(1);
    expect(b).toEqual(a);
  });

  it('entity batching can be switched off', async () => {
    const ds = entitySource(false);
    bodies.length = 0;
    const c = ctx(user('u-a'));
    await Promise.all([call(ds, c, userQuery('Q1'), reps('u1')), call(ds, c, userQuery('Q2'), reps('u1'))]);
    expect(bodies).toHaveLength(2);
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

describe('CosDataSource resilience (cockatiel): circuit breaker and read retries', () => {
  /** A subgraph whose behaviour the test switches: 'up', '503', '400' or 'reset-once' (drops the first connection). */
  let mode: 'up' | '503' | '400' | 'reset-once' = 'up';
  let hits = 0;
  let flaky: Listening;
  beforeAll(async () => {
    flaky = await listen((req, res) => {
      req.resume();
      req.on('end', () => {
        hits++;
        if (mode === 'reset-once') {
          mode = 'up';
          req.socket.destroy();
          return;
        }
        if (mode === '503') return void res.writeHead(503, { 'content-type': 'text/plain' }).end('down');
        if (mode === '400') {
          return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ message: 'bad', extensions: { code: 'BAD_USER_INPUT' } }] }));
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: { ok: true } }));
      });
    });
  });
  afterAll(async () => {
    await flaky.close();
  });

  const states: string[] = [];
  const resilient = () =>
    new CosDataSource({
      name: 'flaky',
      url: `${flaky.url}/graphql`,
      secret: SECRET,
      fetcher: http.subgraphFetcher,
      timeoutMs: 2_000,
      log: createLogger('flaky', 'silent'),
      resilience: { failureThreshold: 3, halfOpenAfterMs: 300 },
      onCircuitChange: (_s, state) => states.push(state),
    });
  const errorsOf = (r: unknown) => ((r as { errors?: { message: string }[] }).errors ?? []).map((e) => e.message);

  it('opens after consecutive 5xx answers and fails fast without calling the subgraph; a trial after halfOpen closes it', async () => {
    const ds = resilient();
    const c = ctx(user('breaker'));
    states.length = 0;
    mode = '503';
    hits = 0;
    for (let i = 0; i < 3; i++) expect(errorsOf(await call(ds, c, `{ ok${i} }`))).toEqual(['The flaky service is unavailable']);
    expect(hits).toBe(3);
    const t0 = performance.now();
    expect(errorsOf(await call(ds, c, '{ okFast }'))).toEqual(['The flaky service is unavailable']);
    expect(performance.now() - t0).toBeLessThan(100);
    expect(hits).toBe(3); // the subgraph was not called
    mode = 'up';
    await new Promise((r) => setTimeout(r, 350));
    expect(await call(ds, c, '{ okAgain }')).toEqual({ data: { ok: true } });
    expect(hits).toBe(4);
    expect(states).toEqual(['open', 'half-open', 'closed']);
  });

  it('a 4xx with GraphQL errors is the request’s fault: passed through, never opens the breaker', async () => {
    const ds = resilient();
    const c = ctx(user('fourxx'));
    mode = '400';
    for (let i = 0; i < 5; i++) expect(errorsOf(await call(ds, c, `{ bad${i} }`))).toEqual(['bad']);
    mode = 'up';
    expect(await call(ds, c, '{ fine }')).toEqual({ data: { ok: true } });
  });

  it('withCircuitBreaker (the gateway’s calls to identity): 5xx answers open it, calls then fail fast; 4xx do not count', async () => {
    const f = withCircuitBreaker(http.fetcher, { name: 'flaky', log: createLogger('flaky', 'silent'), failureThreshold: 2, halfOpenAfterMs: 300 });
    const get = () => f(`${flaky.url}/x`, { method: 'POST', body: '{}' });
    mode = '400';
    for (let i = 0; i < 3; i++) expect((await get()).status).toBe(400);
    mode = '503';
    hits = 0;
    expect((await get()).status).toBe(503);
    expect((await get()).status).toBe(503);
    await expect(get()).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(hits).toBe(2);
    mode = 'up';
    await new Promise((r) => setTimeout(r, 350));
    expect((await get()).status).toBe(200);
  });

  it('retries a read whose connection dropped before an answer, never a mutation', async () => {
    const ds = resilient();
    const c = ctx(user('retry'));
    mode = 'reset-once';
    hits = 0;
    expect(await call(ds, c, '{ readAgain }')).toEqual({ data: { ok: true } });
    expect(hits).toBe(2);
    mode = 'reset-once';
    hits = 0;
    expect(errorsOf(await call(ds, c, 'mutation { write }'))).toEqual(['The flaky service is unavailable']);
    expect(hits).toBe(1);
  });
});

describe('the query-plan fetcher (undici dispatch, dispatchText)', () => {
  let odd: Listening;
  let short: SubgraphHttp;
  const sockets = new Set<import('node:net').Socket>();
  beforeAll(async () => {
    // /bom: a UTF-8 BOM before the JSON; /chunked: the answer in many writes; /stall-headers: never answers;
    // /stall-body: headers and half a body, then nothing; /headers: repeated headers.
    odd = await listen((req, res) => {
      sockets.add(req.socket);
      req.resume();
      req.on('end', () => {
        if (req.url === '/bom') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"data":{"ok":"é ✓"}}')]));
        } else if (req.url === '/chunked') {
          res.writeHead(200, { 'content-type': 'application/json' });
          const text = JSON.stringify({ data: { list: Array.from({ length: 2_000 }, (_, i) => `item ${i} — ü`) } });
          const bytes = Buffer.from(text);
          // Split inside a multi-byte character on purpose: decoding must happen once, over the whole body.
          for (let i = 0; i < bytes.length; i += 997) res.write(bytes.subarray(i, i + 997));
          res.end();
        } else if (req.url === '/stall-body') {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
          res.write('{"data":');
        } else if (req.url === '/headers') {
          res.setHeader('cache-control', ['max-age=5', 'private']);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{}}');
        }
        // /stall-headers: nothing
      });
    });
    short = createSubgraphHttp({ connections: 4, timeoutMs: 300 });
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await short.close();
    await odd.close();
  });
  const fetchText = async (path: string) => {
    const res = (await short.subgraphFetcher(`${odd.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' } as never)) as unknown as {
      status: number;
      ok: boolean;
      headers: { get(n: string): string | null };
      text(): Promise<string>;
      json(): Promise<unknown>;
    };
    return res;
  };

  it('decodes the whole body once (BOM skipped, characters split across chunks kept) and reads headers', async () => {
    expect(await (await fetchText('/bom')).json()).toEqual({ data: { ok: 'é ✓' } });
    const chunked = await fetchText('/chunked');
    expect(chunked.ok).toBe(true);
    const list = ((await chunked.json()) as { data: { list: string[] } }).data.list;
    expect(list).toHaveLength(2_000);
    expect(list.every((s, i) => s === `item ${i} — ü`)).toBe(true);
    const headers = await fetchText('/headers');
    expect(headers.headers.get('Cache-Control')).toBe('max-age=5, private');
    expect(headers.headers.get('x-missing')).toBeNull();
  });

  it('fails with a timeout when the subgraph never answers, or stops in the middle of the body', async () => {
    for (const path of ['/stall-headers', '/stall-body']) {
      const started = Date.now();
      const err = await fetchText(path).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isTimeoutError(err), `${path}: ${String(err)}`).toBe(true);
      expect(Date.now() - started).toBeLessThan(2_000);
    }
    // Through CosDataSource: the subgraph's fields get a "did not answer in time" error, nothing hangs.
    const ds = new CosDataSource({ name: 'stalled', url: `${odd.url}/stall-headers`, secret: SECRET, fetcher: short.subgraphFetcher, timeoutMs: 300, log: createLogger('stalled', 'silent') });
    const r = await call(ds, ctx(user('u-stall')), '{ a }');
    expect((r as { errors?: { message: string }[] }).errors?.[0]?.message).toBe('The stalled service did not answer in time');
  });

  it('refuses at once with the connection error when nothing listens', async () => {
    const err = await short.subgraphFetcher('http://127.0.0.1:1/graphql', { method: 'POST', body: '{}' } as never).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isConnectionError(err) || String((err as { code?: string })?.code).startsWith('ECONN')).toBe(true);
  });
});
