/**
 * The client address behind a proxy, through the real gateway (HTTP, real Redis rate limits): the per-IP limit and
 * the IP signed into the principal come from X-Forwarded-For only when the peer is a trusted proxy; a direct caller
 * writing the header changes nothing.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@cos/logger';
import { createGateway, type Gateway } from '../src/server';
import { composeSupergraph, listen, startIssuer, startSubgraph, testGatewayEnv, type Listening, type TestIssuer } from './fixtures';

let accounts: Awaited<ReturnType<typeof startSubgraph>>;
let posts: Awaited<ReturnType<typeof startSubgraph>>;
let issuer: TestIssuer;
let redis: Redis;
const gateways: Array<{ gateway: Gateway; http: Listening }> = [];
let direct: Listening; // TRUSTED_PROXIES empty
let proxied: Listening; // TRUSTED_PROXIES=loopback: the test plays the ingress

const PER_IP = 3;

beforeAll(async () => {
  [accounts, posts, issuer] = await Promise.all([startSubgraph('accounts'), startSubgraph('posts'), startIssuer()]);
  const dir = await mkdtemp(path.join(tmpdir(), 'gw-ip-'));
  const supergraphPath = path.join(dir, 'supergraph.graphql');
  await writeFile(supergraphPath, composeSupergraph([accounts, posts]));
  redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  for (const trusted of [[], ['loopback']]) {
    const gateway = await createGateway({
      env: testGatewayEnv({ supergraphPath, jwksUrl: issuer.jwksUrl, IDENTITY_INTERNAL_URL: accounts.url, TRUSTED_PROXIES: trusted }),
      log: createLogger('gateway-ip-test', 'silent'),
      redis,
      rateLimit: { perIp: PER_IP, windowSeconds: 60 },
    });
    gateways.push({ gateway, http: await listen(gateway.yoga) });
  }
  [direct, proxied] = gateways.map((g) => g.http) as [Listening, Listening];
});

afterAll(async () => {
  for (const g of gateways) {
    await g.http.close();
    await g.gateway.close();
  }
  redis?.disconnect();
  await Promise.all([accounts?.close(), posts?.close(), issuer?.close()]);
});

const ask = (at: Listening, xff?: string) =>
  fetch(`${at.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...(xff ? { 'x-forwarded-for': xff } : {}) },
    body: JSON.stringify({ query: '{ posts { id } }' }),
  });

/** A documentation-range address (each gateway has its own REDIS_PREFIX, so buckets start empty). */
const clientAddr = () => `203.0.113.${1 + Math.floor(Math.random() * 250)}`;

describe('client address behind a proxy', () => {
  it('behind a trusted proxy: each client has its own per-IP bucket and its address reaches the subgraphs', async () => {
    const a = clientAddr();
    let b = clientAddr();
    while (b === a) b = clientAddr();
    const seen = accounts.seen.length + posts.seen.length;
    const statuses: number[] = [];
    for (let i = 0; i < PER_IP + 1; i++) statuses.push((await ask(proxied, a)).status);
    expect(statuses.slice(0, PER_IP).every((s) => s === 200)).toBe(true);
    expect(statuses[PER_IP]).toBe(429);
    // Another client behind the same proxy is not refused with it.
    expect((await ask(proxied, b)).status).toBe(200);
    // A client forging an address at the left: the proxy's entry (rightmost) is what counts — still refused.
    expect((await ask(proxied, `198.51.100.77, ${a}`)).status).toBe(429);
    const principals = [...accounts.seen, ...posts.seen].slice(seen).map((s) => s.principal);
    expect(principals.some((p) => p.kind === 'anonymous' && (p as { ip?: string }).ip === a)).toBe(true);
  });

  it('without trusted proxies the header is ignored: forged addresses share the caller’s own bucket', async () => {
    const before = posts.seen.length;
    const statuses: number[] = [];
    for (let i = 0; i < PER_IP + 1; i++) statuses.push((await ask(direct, clientAddr())).status);
    expect(statuses).toEqual([...Array(PER_IP).fill(200), 429]);
    const principals = posts.seen.slice(before).map((s) => s.principal as { ip?: string });
    expect(principals.length).toBe(PER_IP);
    for (const p of principals) expect(p.ip).toMatch(/127\.0\.0\.1|::1/);
  });
});
