/**
 * The Guild gateway benchmark's workload (bench/guild/: the suite's 4 subgraphs over its SDL and data, its TestQuery):
 * our gateway answers exactly the suite's expected answer (k6.js's, 87,599 bytes), and so does stock
 * @apollo/gateway on the same supergraph — so `pnpm bench guild` compares gateways that do the same work. Not timed.
 * Our gateway serves this foreign supergraph anonymously and with a user's JWT (the bench's distinct principals).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@cos/logger';
import { loadGuildFixtures } from '../../bench/guild/data';
import { startGuildSubgraphs, type GuildSubgraphServer } from '../../bench/guild/subgraphs';
import { composeGuildSupergraph } from '../../bench/guild/supergraph';
import { createGateway, type Gateway } from '../src/server';
import { listen, startIssuer, testGatewayEnv, type Listening, type TestIssuer } from './fixtures';

const fixtures = loadGuildFixtures();
let subgraphs: GuildSubgraphServer;
let issuer: TestIssuer;
let redis: Redis;
let gateway: Gateway;
let http: Listening;
let stock: ApolloServer;
let stockUrl: string;

beforeAll(async () => {
  // memo off: every subgraph request is executed, as the suite's Rust subgraphs do.
  [subgraphs, issuer] = await Promise.all([startGuildSubgraphs({ memo: false }), startIssuer()]);
  const supergraph = composeGuildSupergraph(subgraphs.urls);
  const dir = await mkdtemp(path.join(tmpdir(), 'guild-'));
  const supergraphPath = path.join(dir, 'supergraph.graphql');
  await writeFile(supergraphPath, supergraph);
  redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  // A hold bound far above any answer time here: which fetches are merged then depends on the plan, not on timing.
  const env = testGatewayEnv({ supergraphPath, jwksUrl: issuer.jwksUrl, GATEWAY_ENTITY_FETCH_HOLD_MS: 2_000 });
  gateway = await createGateway({ env, log: createLogger('guild-test', 'warn'), redis });
  http = await listen(gateway.yoga);
  process.env.APOLLO_TELEMETRY_DISABLED = 'true';
  stock = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl: supergraph }) });
  ({ url: stockUrl } = await startStandaloneServer(stock, { listen: { port: 0, host: '127.0.0.1' } }));
});

afterAll(async () => {
  await stock?.stop();
  await http?.close();
  await gateway?.close();
  redis?.disconnect();
  await Promise.all([subgraphs?.close(), issuer?.close()]);
});

async function testQuery(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: JSON.stringify({ query: fixtures.query, operationName: 'TestQuery' }),
  });
  return { status: res.status, text: (await res.text()).trimEnd() };
}

describe('the Guild benchmark workload', () => {
  it('fixtures: the suite expects an 87,599-byte answer', () => {
    expect(Buffer.byteLength(fixtures.expectedText)).toBe(87_599);
  });

  it('stock @apollo/gateway answers the suite expected answer on our TypeScript subgraphs', async () => {
    const r = await testQuery(stockUrl);
    expect(r.status).toBe(200);
    expect(isDeepStrictEqual(JSON.parse(r.text), fixtures.expected)).toBe(true);
    expect(Buffer.byteLength(r.text)).toBe(Buffer.byteLength(fixtures.expectedText));
  });

  it('our gateway answers the same bytes, anonymously and for a signed-in user', async () => {
    const token = await issuer.sign({ sub: randomUUID(), org: randomUUID(), role: 'MEMBER' });
    for (const headers of [{}, { authorization: `Bearer ${token}` }] as Record<string, string>[]) {
      const r = await testQuery(`${http.url}/graphql`, headers);
      expect(r.status).toBe(200);
      expect(r.text).toBe(fixtures.expectedText);
    }
  });

  it('the native executor lines up the plan branches: 6 subgraph requests for the 16 fetches of the plan', async () => {
    // Two root fetches; reviews of both branches in one request; then accounts and products of both branches once
    // each; then every inventory fetch in one request (the plan's lone inventory fetches run beside the
    // shippingEstimate ones: plan.ts joinLeafEntityFetches; the hold lines the two branches up). Hive Gateway: 7.
    const before = { ...subgraphs.stats };
    const r = await testQuery(`${http.url}/graphql`);
    expect(r.text).toBe(fixtures.expectedText);
    const delta = Object.fromEntries(Object.entries(subgraphs.stats).map(([name, n]) => [name, n - before[name as keyof typeof before]]));
    expect(delta).toEqual({ accounts: 2, inventory: 1, products: 2, reviews: 1 });
  });

  it('a wrong answer is told apart: the subgraphs are the suite quirks, not a copy of the expected answer', async () => {
    // The TestQuery never asks `birthday`; asking it shows the subgraphs resolve data rather than replay an answer.
    const res = await fetch(`${http.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query: '{ users { id birthday } topProducts(first: 2) { upc shippingEstimate inStock } }' }),
    });
    expect(await res.json()).toEqual({
      data: {
        users: fixtures.data.accounts.users.map((u) => ({ id: u.id, birthday: 1234567890 })),
        topProducts: [
          { upc: '1', shippingEstimate: null, inStock: true },
          { upc: '2', shippingEstimate: null, inStock: false },
        ],
      },
    });
  });
});
