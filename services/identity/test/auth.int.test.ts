import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { createLogger } from '@cos/logger';
import { execSubgraph, TEST_INTERNAL_SECRET, userPrincipal } from '@cos/testing';
import { rotateSigningKey } from '../src/auth/keyring';
import { createServer } from '../src/server';
import { ANON, LOGIN, PASSWORD, REFRESH, SIGN_UP, signUp, startIdentity, uniqueEmail, type Identity, type Session } from './harness';

let id: Identity;
beforeAll(async () => {
  id = await startIdentity();
});
afterAll(async () => {
  await id?.close();
});

async function jwks(): Promise<JSONWebKeySet> {
  const res = await id.yoga.fetch('http://subgraph/.well-known/jwks.json');
  expect(res.status).toBe(200);
  return (await res.json()) as JSONWebKeySet;
}

const verifyAccess = async (token: string) =>
  jwtVerify(token, createLocalJWKSet(await jwks()), { issuer: 'cos-identity', audience: 'cos-graph' });

describe('gateway signature', () => {
  it('refuses an unsigned GraphQL request with 401', async () => {
    const res = await id.yoga.fetch('http://subgraph/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ me { id } }' }),
    });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
  });
});

describe('signUp', () => {
  it('creates the user, the organization and an OWNER membership, and signs an access token', async () => {
    const email = uniqueEmail('owner');
    const s = await signUp(id, { email: email.toUpperCase(), organizationName: 'Globex Corp' });
    expect(s.user.email).toBe(email);
    expect(s.organization).toMatchObject({ name: 'Globex Corp', slug: 'globex-corp' });
    const { payload, protectedHeader } = await verifyAccess(s.accessToken);
    expect(protectedHeader.alg).toBe('EdDSA');
    expect(payload).toMatchObject({ sub: s.user.id, org: s.organization.id, role: 'OWNER', iss: 'cos-identity', aud: 'cos-graph' });
    expect(payload.exp! - payload.iat!).toBe(900);
    expect(new Date(s.expiresAt).getTime()).toBe(payload.exp! * 1000);

    const me = await id.exec(userPrincipal(s.user.id, s.organization.id, 'OWNER'), `{ me { id email memberships { role organization { id slug } } } }`);
    expect(me.errors).toBeUndefined();
    expect(me.data!.me).toEqual({
      id: s.user.id,
      email,
      memberships: [{ role: 'OWNER', organization: { id: s.organization.id, slug: 'globex-corp' } }],
    });
    const events = await id.admin<{ type: string }>(`SELECT type FROM events WHERE org_id = $1 ORDER BY global_position`, [s.organization.id]);
    expect(events.map((e) => e.type)).toEqual(['UserRegistered', 'OrganizationCreated', 'MemberJoined']);
  });

  it('gives a second organization with the same name another slug', async () => {
    const a = await signUp(id, { organizationName: 'Same Name' });
    const b = await signUp(id, { organizationName: 'Same Name' });
    expect(a.organization.slug).not.toBe(b.organization.slug);
    expect(b.organization.slug).toMatch(/^same-name(-[0-9a-f]{6})?$/);
  });

  it('refuses a duplicate email (any case) with BAD_USER_INPUT on email, writing nothing', async () => {
    const email = uniqueEmail('dup');
    await signUp(id, { email });
    const before = (await id.admin<{ count: string }>(`SELECT count(*) FROM events`))[0]!.count;
    const r = await id.exec(ANON, SIGN_UP, {
      input: { email: email.toUpperCase(), password: PASSWORD, name: 'Again', organizationName: 'Dup Org' },
    });
    expect(r.data).toBeNull();
    expect(r.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'email' });
    const after = (await id.admin<{ count: string }>(`SELECT count(*) FROM events`))[0]!.count;
    expect(after).toBe(before);
  });

  it.each([
    ['short', 'abc-12'],
    ['single kind', 'abcdefghijkl'],
    ['common', 'password123'],
  ])('refuses a %s password with BAD_USER_INPUT on password', async (_kind, password) => {
    const email = uniqueEmail('weak');
    const r = await id.exec(ANON, SIGN_UP, { input: { email, password, name: 'W', organizationName: 'Weak' } });
    expect(r.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'password' });
    expect(await id.admin(`SELECT 1 FROM users WHERE email = $1`, [email])).toHaveLength(0);
  });

  it('refuses a malformed email', async () => {
    const r = await id.exec(ANON, SIGN_UP, { input: { email: 'not-an-email', password: PASSWORD, name: 'W', organizationName: 'X' } });
    expect(r.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'email' });
  });
});

describe('login', () => {
  let owner: Session;
  let email: string;
  beforeAll(async () => {
    email = uniqueEmail('login');
    owner = await signUp(id, { email });
  });

  it('signs in with the right password and records UserLoggedIn', async () => {
    const r = await id.exec<{ login: Session }>(ANON, LOGIN, { e: email, p: PASSWORD });
    expect(r.errors).toBeUndefined();
    expect(r.data!.login.user.id).toBe(owner.user.id);
    expect(r.data!.login.organization.id).toBe(owner.organization.id);
    const ev = await id.admin<{ type: string; stream_id: string; actor: string }>(
      `SELECT type, stream_id, metadata->>'actor' AS actor FROM events WHERE type = 'UserLoggedIn' AND stream_id = $1`,
      [`User-${owner.user.id}`],
    );
    expect(ev).toEqual([{ type: 'UserLoggedIn', stream_id: `User-${owner.user.id}`, actor: `user:${owner.user.id}` }]);
  });

  it('answers the same error for a wrong password and an unknown email', async () => {
    const wrong = await id.exec(ANON, LOGIN, { e: email, p: 'wrong-password-1' });
    const unknown = await id.exec(ANON, LOGIN, { e: uniqueEmail('nobody'), p: 'wrong-password-1' });
    expect(wrong.errors![0]).toMatchObject({ message: 'Invalid email or password', extensions: { code: 'UNAUTHENTICATED' } });
    expect(unknown.errors![0]!.message).toBe(wrong.errors![0]!.message);
    expect(unknown.errors![0]!.extensions).toEqual(wrong.errors![0]!.extensions);
  });

  it('refuses an organization the user does not belong to', async () => {
    const other = await signUp(id);
    const r = await id.exec(ANON, LOGIN, { e: email, p: PASSWORD, o: other.organization.id });
    expect(r.errors![0]!.extensions!.code).toBe('FORBIDDEN');
  });
});

describe('refresh tokens', () => {
  it('rotate, and reusing an old one revokes the whole family', async () => {
    const s = await signUp(id);
    const r1 = await id.exec<{ refreshToken: Session }>(ANON, REFRESH, { t: s.refreshToken });
    expect(r1.errors).toBeUndefined();
    const t2 = r1.data!.refreshToken.refreshToken;
    expect(t2).not.toBe(s.refreshToken);
    expect((await verifyAccess(r1.data!.refreshToken.accessToken)).payload.sub).toBe(s.user.id);
    const r2 = await id.exec<{ refreshToken: Session }>(ANON, REFRESH, { t: t2 });
    expect(r2.errors).toBeUndefined();
    const t3 = r2.data!.refreshToken.refreshToken;

    // The first token again: theft suspected.
    const reuse = await id.exec(ANON, REFRESH, { t: s.refreshToken });
    expect(reuse.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    // ... and the newest token of that family is dead too.
    const after = await id.exec(ANON, REFRESH, { t: t3 });
    expect(after.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    const rows = await id.admin<{ revoked: boolean }>(
      `SELECT revoked_at IS NOT NULL AS revoked FROM refresh_tokens WHERE user_id = $1`,
      [s.user.id],
    );
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.revoked)).toBe(true);
  });

  it('a concurrent refresh with the same token within the grace gets a sibling; once a later token is used, it is a reuse', async () => {
    const s = await signUp(id);
    const first = await id.exec<{ refreshToken: Session }>(ANON, REFRESH, { t: s.refreshToken });
    // A second tab presents the same token a moment later: not theft, another token of the same family.
    const second = await id.exec<{ refreshToken: Session }>(ANON, REFRESH, { t: s.refreshToken });
    expect(first.errors).toBeUndefined();
    expect(second.errors).toBeUndefined();
    const [b, c] = [first.data!.refreshToken.refreshToken, second.data!.refreshToken.refreshToken];
    expect(b).not.toBe(c);
    expect((await verifyAccess(second.data!.refreshToken.accessToken)).payload.sub).toBe(s.user.id);
    // Each tab goes on rotating its own token.
    const fromB = await id.exec<{ refreshToken: Session }>(ANON, REFRESH, { t: b });
    const fromC = await id.exec<{ refreshToken: Session }>(ANON, REFRESH, { t: c });
    expect(fromB.errors).toBeUndefined();
    expect(fromC.errors).toBeUndefined();
    // The first token once more: later tokens of its family have been used, so this is a reuse, whatever the time.
    const reuse = await id.exec(ANON, REFRESH, { t: s.refreshToken });
    expect(reuse.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    const live = await id.exec(ANON, REFRESH, { t: fromB.data!.refreshToken.refreshToken });
    expect(live.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
  });

  it('after the grace window (or with it at 0) presenting a rotated token again revokes the family', async () => {
    for (const graceS of [1, 0]) {
      const server = createServer({
        db: id.db,
        systemDb: id.systemDb,
        keys: id.keys,
        log: createLogger('identity-grace-test', 'silent'),
        config: { internalSecret: TEST_INTERNAL_SECRET, refreshTokenTtlS: 3600, invitationTtlS: 3600, inviteUrlBase: 'http://app.test/accept', refreshReuseGraceS: graceS },
      });
      const exec = (t: string) =>
        execSubgraph<{ refreshToken: Session }>({ fetch: (u: string, init?: RequestInit) => server.yoga.fetch(u, init ?? {}) }, ANON, REFRESH, { t });
      const s = await signUp(id);
      const next = await exec(s.refreshToken);
      expect(next.errors).toBeUndefined();
      if (graceS > 0) await new Promise((r) => setTimeout(r, graceS * 1000 + 300));
      expect((await exec(s.refreshToken)).errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
      expect((await exec(next.data!.refreshToken.refreshToken)).errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    }
  });

  it('stores only hashes', async () => {
    const s = await signUp(id);
    expect(await id.admin(`SELECT 1 FROM refresh_tokens WHERE token_hash = $1`, [s.refreshToken])).toHaveLength(0);
    expect(await id.admin(`SELECT 1 FROM refresh_tokens WHERE user_id = $1`, [s.user.id])).toHaveLength(1);
  });

  it('logout revokes the family', async () => {
    const s = await signUp(id);
    const out = await id.exec(ANON, `mutation($t: String!) { logout(refreshToken: $t) }`, { t: s.refreshToken });
    expect(out.data).toEqual({ logout: true });
    const r = await id.exec(ANON, REFRESH, { t: s.refreshToken });
    expect(r.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
  });

  it('an unknown token is UNAUTHENTICATED', async () => {
    const r = await id.exec(ANON, REFRESH, { t: 'garbage' });
    expect(r.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
  });
});

describe('signing keys', () => {
  it('JWKS serves the kid that signed a token, and keeps a rotated key until its tokens expire', async () => {
    const before = await signUp(id);
    const oldKid = decodeProtectedHeader(before.accessToken).kid!;
    expect((await jwks()).keys.map((k) => k.kid)).toContain(oldKid);
    expect((await jwks()).keys.every((k) => !('d' in k))).toBe(true);

    // The next key is published before it signs anything, so verifiers hold it before a rotation promotes it.
    const published = (await jwks()).keys.map((k) => k.kid);
    expect(published).toHaveLength(2);
    const nextKid = published.find((k) => k !== oldKid)!;

    const newKid = await rotateSigningKey(id.systemDb);
    expect(newKid).toBe(nextKid);
    const after = await signUp(id);
    expect(decodeProtectedHeader(after.accessToken).kid).toBe(newKid);
    const kids = (await jwks()).keys.map((k) => k.kid);
    expect(kids).toEqual(expect.arrayContaining([oldKid, newKid]));
    // ...and a fresh next key is already out for the following rotation.
    expect(kids).toHaveLength(3);
    // Both tokens still verify against the published set.
    expect((await verifyAccess(before.accessToken)).payload.sub).toBe(before.user.id);
    expect((await verifyAccess(after.accessToken)).payload.sub).toBe(after.user.id);

    // A key retired longer ago than the token lifetime (+ skew) is no longer published.
    await id.admin(`UPDATE signing_keys SET retired_at = now() - interval '2 hours' WHERE kid = $1`, [oldKid]);
    expect((await jwks()).keys.map((k) => k.kid)).not.toContain(oldKid);
  });
});
