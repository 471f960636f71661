import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtVerifier, InvalidTokenError } from '../src/auth/jwt';
import { listen, startIssuer, type Listening, type TestIssuer } from './fixtures';

/**
 * The verifier's cache of verified tokens (auth/jwt.ts): a token seen before is not verified again within the TTL,
 * and nothing about a token that was not verified as a whole is ever reused. The JWKS is served through a counter
 * with jose's JWKS cache off (cacheMaxAgeMs 0), so each signature verification shows as one JWKS fetch.
 */
let issuer: TestIssuer;
let jwks: Listening;
let fetches = 0;

beforeAll(async () => {
  issuer = await startIssuer();
  const body = await (await fetch(issuer.jwksUrl)).text();
  jwks = await listen((_req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
});

afterAll(async () => {
  await jwks?.close();
  await issuer?.close();
});

const verifier = (verifiedTtlMs?: number) =>
  createJwtVerifier({ jwksUrl: `${jwks.url}/jwks.json`, issuer: 'cos-identity', audience: 'cos-graph', cacheMaxAgeMs: 0, verifiedTtlMs });

describe('createJwtVerifier: verified tokens', () => {
  it('verifies a token once within the TTL and hands each caller its own principal', async () => {
    const verify = verifier();
    const token = await issuer.sign({ sub: randomUUID(), org: randomUUID(), role: 'MEMBER' });
    const before = fetches;
    const first = await verify(token);
    const second = await verify(token);
    expect(fetches - before).toBe(1);
    expect(second).toEqual(first);
    expect(second).not.toBe(first);
  });

  it('verifies every time with the cache off (verifiedTtlMs: 0)', async () => {
    const verify = verifier(0);
    const token = await issuer.sign({ sub: randomUUID(), org: randomUUID(), role: 'MEMBER' });
    const before = fetches;
    await verify(token);
    await verify(token);
    expect(fetches - before).toBe(2);
  });

  it('refuses a cached token whose signature was altered', async () => {
    const verify = verifier();
    const token = await issuer.sign({ sub: randomUUID(), org: randomUUID(), role: 'MEMBER' });
    await verify(token);
    const [head, payload, sig] = token.split('.') as [string, string, string];
    const altered = `${head}.${payload}.${sig.startsWith('A') ? 'B' : 'A'}${sig.slice(1)}`;
    await expect(verify(altered)).rejects.toBeInstanceOf(InvalidTokenError);
  });
});
