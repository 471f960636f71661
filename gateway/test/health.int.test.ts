import { createServer, type Server } from 'node:http';
import { createSchema, createYoga } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubgraphHttp } from '../src/execution/http';
import { useHealth } from '../src/transport/useHealth';

/** A subgraph not built on our service kit: no /healthz; answers GraphQL on every POST (or garbage when `broken`). */
function foreignSubgraph(broken = false): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    if (req.method !== 'POST') return void res.writeHead(404).end('not found');
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(broken ? '<html>proxy error</html>' : '{"data":{"__typename":"Query"}}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}/graphql`, server })),
  );
}

const http = createSubgraphHttp({ connections: 4, timeoutMs: 2_000 });
let good: { url: string; server: Server };
let bad: { url: string; server: Server };
const deps = { nats: false, redis: true };

const gatewayWith = (subgraphs: Array<{ name: string; url: string }>) =>
  createYoga({
    schema: createSchema({ typeDefs: 'type Query { ok: Boolean }' }),
    logging: false,
    plugins: [
      useHealth({
        subgraphs: () => subgraphs,
        isLoaded: () => true,
        isDraining: () => false,
        probe: http.probe,
        probeGraphQL: http.probeGraphQL,
        dependencies: () => deps,
      }),
    ],
  });

beforeAll(async () => {
  good = await foreignSubgraph();
  bad = await foreignSubgraph(true);
});
afterAll(async () => {
  good.server.close();
  bad.server.close();
  await http.close();
});

describe('/readyz on subgraphs without /healthz', () => {
  it('asks `{ __typename }` when /healthz is 404, and is ready when it is answered', async () => {
    const res = await gatewayWith([{ name: 'reviews', url: good.url }]).fetch('http://gw/readyz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: 'degraded',
      supergraph: 'loaded',
      subgraphs: { reviews: 'ok' },
      dependencies: { nats: 'unavailable', redis: 'ok' },
    });
  });

  it('is unready naming the subgraph whose `{ __typename }` answer is not GraphQL', async () => {
    const res = await gatewayWith([{ name: 'reviews', url: good.url }, { name: 'broken', url: bad.url }]).fetch('http://gw/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'unavailable', subgraphs: { reviews: 'ok', broken: 'no answer to { __typename }' } });
  });

  it('reports ok once every dependency is back', async () => {
    deps.nats = true;
    const res = await gatewayWith([{ name: 'reviews', url: good.url }]).fetch('http://gw/readyz');
    expect(await res.json()).toMatchObject({ status: 'ok', dependencies: { nats: 'ok', redis: 'ok' } });
  });
});
