/**
 * Issue 4 gaps, through the gateway against the REAL identity subgraph (in-process, served over HTTP) as JWKS issuer
 * and API-key verifier; the fixture `accounts` subgraph echoes the principal it received (signed by the gateway).
 * (1) Signing-key rotation has no 401 window: tokens from the old kid keep working, tokens from the new kid work at
 *     once — while jose's unknown-kid cooldown would forbid a re-fetch — because the next key was already published.
 * (2) A service account reaches subgraphs as a `service` principal holding only agents:work.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userPrincipal } from '@cos/testing';
import { createLogger } from '@cos/logger';
import { createGateway, type Gateway } from '../src/server';
import { createJwtVerifier, InvalidTokenError } from '../src/auth/jwt';
import { invalidateApiKey } from '../src/auth/api-keys';
import { rotateSigningKey } from '../../services/identity/src/auth/keyring';
import { signUp, startIdentity, type Identity, type Session } from '../../services/identity/test/harness';
import { composeSupergraph, listen, testGatewayEnv, startSubgraph, type Listening } from './fixtures';

let identity: Identity;
let identityHttp: Listening;
let accounts: Awaited<ReturnType<typeof startSubgraph>>;
let posts: Awaited<ReturnType<typeof startSubgraph>>;
let redis: Redis;
let gateway: Gateway;
let http: Listening;
let owner: Session;
const REDIS_PREFIX = `test:${randomBytes(4).toString('hex')}:`;

const jwksUrl = () => `${identityHttp.url}/.well-known/jwks.json`;

beforeAll(async () => {
  identity = await startIdentity();
  identityHttp = await listen(identity.yoga);
  [accounts, posts] = await Promise.all([startSubgraph('accounts'), startSubgraph('posts')]);
  const dir = await mkdtemp(path.join(tmpdir(), 'gw-keys-'));
  const supergraphPath = path.join(dir, 'supergraph.graphql');
  await writeFile(supergraphPath, composeSupergraph([accounts, posts]));
  redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  gateway = await createGateway({
    env: testGatewayEnv({ supergraphPath, jwksUrl: jwksUrl(), IDENTITY_INTERNAL_URL: identityHttp.url, SUBGRAPH_TIMEOUT_MS: 2_000, REDIS_PREFIX }),
    log: createLogger('gateway-test', 'silent'),
    redis,
  });
  http = await listen(gateway.yoga);
  owner = await signUp(identity);
});

afterAll(async () => {
  await http?.close();
  await gateway?.close();
  redis?.disconnect();
  await Promise.all([accounts?.close(), posts?.close(), identityHttp?.close()]);
  await identity?.close();
});

type Viewer = { kind: string; id: string | null; orgId: string | null; scopes: string[] };
async function viewer(authorization: string) {
  const res = await fetch(`${http.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization },
    body: JSON.stringify({ query: '{ viewer { kind id orgId scopes } }' }),
  });
  const body = (await res.json()) as { data?: { viewer: Viewer }; errors?: unknown[] };
  return { status: res.status, viewer: body.data?.viewer, errors: body.errors };
}

const kidOf = (token: string) => decodeProtectedHeader(token).kid!;
const publishedKids = async () => ((await (await fetch(jwksUrl())).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
const freshToken = async (s: Session) =>
  (await identity.keys.signAccessToken({ userId: s.user.id, orgId: s.organization.id, role: 'OWNER' })).token;

describe('signing-key rotation through the gateway', () => {
  it('old-kid tokens keep working after a rotation; new-kid tokens work immediately, without a JWKS re-fetch', async () => {
    const oldToken = owner.accessToken;
    const oldKid = kidOf(oldToken);
    // The gateway fetches the JWKS now (active + next key) and then may not re-fetch for 30 s (cooldown).
    expect((await viewer(`Bearer ${oldToken}`)).viewer).toMatchObject({ kind: 'user', id: owner.user.id });
    const before = await publishedKids();
    expect(before).toContain(oldKid);
    expect(before).toHaveLength(2);

    const newKid = await rotateSigningKey(identity.systemDb);
    expect(before).toContain(newKid); // the promoted key was published before the rotation
    const newToken = await freshToken(owner);
    expect(kidOf(newToken)).toBe(newKid);

    const fresh = await viewer(`Bearer ${newToken}`);
    expect(fresh.status, JSON.stringify(fresh.errors)).toBe(200);
    expect(fresh.viewer).toMatchObject({ kind: 'user', id: owner.user.id, orgId: owner.organization.id });
    const old = await viewer(`Bearer ${oldToken}`);
    expect(old.status).toBe(200);
    expect(old.viewer).toMatchObject({ kind: 'user', id: owner.user.id });
  });

  it('a kid the verifier has never seen is fetched on demand once the cooldown has passed (and not before)', async () => {
    const verify = createJwtVerifier({ jwksUrl: jwksUrl(), issuer: 'cos-identity', audience: 'cos-graph', cooldownMs: 200 });
    const strict = createJwtVerifier({ jwksUrl: jwksUrl(), issuer: 'cos-identity', audience: 'cos-graph', cooldownMs: 60_000 });
    await verify(await freshToken(owner)); // caches the JWKS: active + next
    await strict(await freshToken(owner));
    // Two rotations: the now-active key was created (as next) after the verifier's fetch.
    await rotateSigningKey(identity.systemDb);
    const kid = await rotateSigningKey(identity.systemDb);
    const token = await freshToken(owner);
    expect(kidOf(token)).toBe(kid);
    // Without pre-publication this is the 401 window: an unknown kid inside the cooldown is refused.
    await expect(strict(token)).rejects.toBeInstanceOf(InvalidTokenError);
    await new Promise((r) => setTimeout(r, 250));
    await expect(verify(token)).resolves.toMatchObject({ kind: 'user', userId: owner.user.id });
  });
});

describe('service accounts for agent workers', () => {
  const CREATE = `mutation($n: String!) { createServiceAccount(name: $n) { secret apiKey { id name scopes } } }`;

  it('an OWNER creates one; through the gateway it reaches subgraphs as a service principal with agents:work only', async () => {
    const r = await identity.exec<{ createServiceAccount: { secret: string; apiKey: { id: string; name: string; scopes: string[] } } }>(
      userPrincipal(owner.user.id, owner.organization.id, 'OWNER'),
      CREATE,
      { n: 'triage-worker' },
    );
    expect(r.errors).toBeUndefined();
    const { secret, apiKey } = r.data!.createServiceAccount;
    expect(apiKey).toMatchObject({ name: 'triage-worker', scopes: ['agents:work'] });

    const seenBefore = accounts.seen.length;
    const v = await viewer(`ApiKey ${secret}`);
    expect(v.status, JSON.stringify(v.errors)).toBe(200);
    expect(v.viewer).toEqual({ kind: 'service', id: apiKey.id, orgId: owner.organization.id, scopes: ['agents:work'] });
    // What the subgraph verified from the gateway's signed headers.
    expect(accounts.seen.slice(seenBefore).map((s) => s.principal)).toContainEqual(
      expect.objectContaining({ kind: 'service', serviceId: apiKey.id, orgId: owner.organization.id, scopes: ['agents:work'] }),
    );

    // Revoked: refused (after the verdict cache, which a revocation event would drop at once).
    await identity.exec(userPrincipal(owner.user.id, owner.organization.id, 'OWNER'), `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, {
      id: apiKey.id,
    });
    await invalidateApiKey(redis, REDIS_PREFIX, apiKey.id);
    expect((await viewer(`ApiKey ${secret}`)).status).toBe(401);
  });

  it('MEMBERs cannot create one, a service account cannot create one, and a blank name is BAD_USER_INPUT', async () => {
    const member = await identity.exec(userPrincipal(owner.user.id, owner.organization.id, 'MEMBER'), CREATE, { n: 'x' });
    expect(member.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const svc = await identity.exec(
      { kind: 'service', serviceId: 'some-key', orgId: owner.organization.id, scopes: ['agents:work'] },
      CREATE,
      { n: 'x' },
    );
    expect(svc.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const blank = await identity.exec(userPrincipal(owner.user.id, owner.organization.id, 'OWNER'), CREATE, { n: '   ' });
    expect(blank.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'name' });
  });
});
