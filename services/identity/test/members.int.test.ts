import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import type { Principal } from '@cos/auth';
import { signedHeaders, userPrincipal } from '@cos/testing';
import { READ_MODEL_TABLES, eventStore } from '../src/projector';
import { ANON, LOGIN, PASSWORD, signUp, startIdentity, uniqueEmail, type Identity, type Session } from './harness';

let id: Identity;
let owner: Session;
let ownerP: Principal;
beforeAll(async () => {
  id = await startIdentity();
  owner = await signUp(id, { organizationName: 'Initech' });
  ownerP = userPrincipal(owner.user.id, owner.organization.id, 'OWNER');
});
afterAll(async () => {
  await id?.close();
});

const INVITE = `mutation($e: String!, $n: String!, $r: Role!) { inviteMember(email: $e, name: $n, role: $r) { role user { id name email } organization { id } } }`;
const ACCEPT = `mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { accessToken refreshToken user { id email } organization { id } } }`;
const CHANGE_ROLE = `mutation($u: ID!, $r: Role!) { changeRole(userId: $u, role: $r) { role user { id } } }`;
const CREATE_KEY = `mutation($n: String!, $s: [String!]!) { createApiKey(name: $n, scopes: $s) { secret apiKey { id name scopes createdAt lastUsedAt revokedAt } } }`;

async function invitationToken(email: string): Promise<string> {
  const rows = await id.admin<{ body: string }>(`SELECT body FROM outbound_emails WHERE lower(to_address) = lower($1) ORDER BY created_at DESC LIMIT 1`, [email]);
  const m = /token=([A-Za-z0-9_-]+)/.exec(rows[0]?.body ?? '');
  if (!m) throw new Error(`no invitation email for ${email}`);
  return m[1]!;
}

/** Invites a new email with `role` and accepts it; returns the new member's principal. */
async function addMember(role: 'ADMIN' | 'MEMBER' | 'VIEWER', name = `${role} person`) {
  const email = uniqueEmail(role.toLowerCase());
  const r = await id.exec<{ inviteMember: { user: { id: string } } }>(ownerP, INVITE, { e: email, n: name, r: role });
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  const accepted = await id.exec(ANON, ACCEPT, { t: await invitationToken(email), p: PASSWORD });
  if (accepted.errors) throw new Error(JSON.stringify(accepted.errors));
  const userId = r.data!.inviteMember.user.id;
  return { email, userId, principal: userPrincipal(userId, owner.organization.id, role) };
}

describe('invitations', () => {
  it('a new email gets a pending invitation by email, then accepts it with a password and is signed in', async () => {
    const email = uniqueEmail('invitee');
    const r = await id.exec<{ inviteMember: { role: string; user: { id: string; name: string; email: string } } }>(ownerP, INVITE, {
      e: email,
      n: 'Ivy Invitee',
      r: 'VIEWER',
    });
    expect(r.errors).toBeUndefined();
    expect(r.data!.inviteMember).toMatchObject({ role: 'VIEWER', user: { name: 'Ivy Invitee', email }, organization: { id: owner.organization.id } });
    const token = await invitationToken(email);
    const [inv] = await id.admin<{ token_hash: string }>(`SELECT token_hash FROM invitations WHERE lower(email) = $1`, [email]);
    expect(inv!.token_hash).not.toBe(token);
    // Not a member yet: no password, no login.
    const early = await id.exec(ANON, LOGIN, { e: email, p: PASSWORD });
    expect(early.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');

    const weak = await id.exec(ANON, ACCEPT, { t: token, p: 'short' });
    expect(weak.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'password' });

    const accepted = await id.exec<{ acceptInvitation: { user: { id: string; email: string }; organization: { id: string } } }>(ANON, ACCEPT, {
      t: token,
      p: PASSWORD,
    });
    expect(accepted.errors).toBeUndefined();
    expect(accepted.data!.acceptInvitation).toMatchObject({ user: { id: r.data!.inviteMember.user.id, email }, organization: { id: owner.organization.id } });

    const login = await id.exec<{ login: { organization: { id: string } } }>(ANON, LOGIN, { e: email, p: PASSWORD });
    expect(login.data!.login.organization.id).toBe(owner.organization.id);

    const again = await id.exec(ANON, ACCEPT, { t: token, p: PASSWORD });
    expect(again.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'token' });

    const members = await id.exec<{ organization: { members: { role: string; user: { id: string } }[] } }>(
      ownerP,
      `query($id: ID!) { organization(id: $id) { members { role user { id } } } }`,
      { id: owner.organization.id },
    );
    expect(members.data!.organization.members).toContainEqual({ role: 'VIEWER', user: { id: r.data!.inviteMember.user.id } });
  });

  it('an existing user joins at once and can log in to the new organization', async () => {
    const otherEmail = uniqueEmail('existing');
    const other = await signUp(id, { email: otherEmail, name: 'Ernie Existing', organizationName: 'Elsewhere' });
    const r = await id.exec<{ inviteMember: { role: string; user: { id: string } } }>(ownerP, INVITE, { e: otherEmail, n: 'ignored', r: 'MEMBER' });
    expect(r.errors).toBeUndefined();
    expect(r.data!.inviteMember).toMatchObject({ role: 'MEMBER', user: { id: other.user.id, name: 'Ernie Existing' } });
    const login = await id.exec<{ login: { organization: { id: string } } }>(ANON, LOGIN, { e: otherEmail, p: PASSWORD, o: owner.organization.id });
    expect(login.errors).toBeUndefined();
    expect(login.data!.login.organization.id).toBe(owner.organization.id);
    const twice = await id.exec(ownerP, INVITE, { e: otherEmail, n: 'x', r: 'MEMBER' });
    expect(twice.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'email' });
  });

  it('VIEWER and MEMBER cannot invite; an ADMIN cannot invite an OWNER', async () => {
    const viewer = await addMember('VIEWER');
    const member = await addMember('MEMBER');
    const admin = await addMember('ADMIN');
    for (const p of [viewer.principal, member.principal]) {
      const r = await id.exec(p, INVITE, { e: uniqueEmail('nope'), n: 'N', r: 'VIEWER' });
      expect(r.errors![0]!.extensions!.code).toBe('FORBIDDEN');
    }
    const r = await id.exec(admin.principal, INVITE, { e: uniqueEmail('boss'), n: 'N', r: 'OWNER' });
    expect(r.errors![0]!.extensions!.code).toBe('FORBIDDEN');
    const ok = await id.exec(admin.principal, INVITE, { e: uniqueEmail('fine'), n: 'N', r: 'MEMBER' });
    expect(ok.errors).toBeUndefined();
  });
});

describe('changeRole', () => {
  it('OWNER promotes; nobody demotes the last OWNER; only an OWNER grants OWNER', async () => {
    const m = await addMember('MEMBER');
    const promoted = await id.exec(ownerP, CHANGE_ROLE, { u: m.userId, r: 'ADMIN' });
    expect(promoted.data).toEqual({ changeRole: { role: 'ADMIN', user: { id: m.userId } } });
    const adminP = userPrincipal(m.userId, owner.organization.id, 'ADMIN');

    const lastOwner = await id.exec(ownerP, CHANGE_ROLE, { u: owner.user.id, r: 'MEMBER' });
    expect(lastOwner.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'role' });
    const byAdmin = await id.exec(adminP, CHANGE_ROLE, { u: m.userId, r: 'OWNER' });
    expect(byAdmin.errors![0]!.extensions!.code).toBe('FORBIDDEN');
    const demoteOwner = await id.exec(adminP, CHANGE_ROLE, { u: owner.user.id, r: 'VIEWER' });
    expect(demoteOwner.errors![0]!.extensions!.code).toBe('FORBIDDEN');

    const viewerP = (await addMember('VIEWER')).principal;
    const byViewer = await id.exec(viewerP, CHANGE_ROLE, { u: m.userId, r: 'VIEWER' });
    expect(byViewer.errors![0]!.extensions!.code).toBe('FORBIDDEN');

    // A session started before a role change gets the current role on its next refresh.
    const m2 = await addMember('VIEWER');
    const login = await id.exec<{ login: { refreshToken: string } }>(ANON, LOGIN, { e: m2.email, p: PASSWORD });
    expect(login.errors).toBeUndefined();
    await id.exec(ownerP, CHANGE_ROLE, { u: m2.userId, r: 'MEMBER' });
    const refreshed = await id.exec<{ refreshToken: { accessToken: string } }>(
      ANON,
      `mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }`,
      { t: login.data!.login.refreshToken },
    );
    expect(decodeJwt(refreshed.data!.refreshToken.accessToken)).toMatchObject({ sub: m2.userId, role: 'MEMBER' });
  });
});

describe('tenant isolation and field visibility', () => {
  it("another organization's users and organization resolve to null", async () => {
    const foreign = await signUp(id, { organizationName: 'Foreign' });
    const r = await id.exec(ownerP, `query($u: ID!, $o: ID!) { user(id: $u) { id } organization(id: $o) { id } }`, {
      u: foreign.user.id,
      o: foreign.organization.id,
    });
    expect(r.errors).toBeUndefined();
    expect(r.data).toEqual({ user: null, organization: null });
    const entities = await id.exec(ownerP, `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id } ... on Organization { id } } }`, {
      r: [
        { __typename: 'User', id: foreign.user.id },
        { __typename: 'User', id: owner.user.id },
        { __typename: 'Organization', id: foreign.organization.id },
        { __typename: 'User', id: 'not-a-uuid' },
      ],
    });
    expect(entities.errors).toBeUndefined();
    expect(entities.data!._entities).toEqual([null, { id: owner.user.id }, null, null]);
  });

  it('email: visible to the user themself and to ADMIN/OWNER; FORBIDDEN for other members', async () => {
    const member = await addMember('MEMBER', 'Mia Member');
    const q = `query($u: ID!) { user(id: $u) { id name email } }`;
    const asMember = await id.exec(member.principal, q, { u: owner.user.id });
    expect(asMember.data).toEqual({ user: null });
    expect(asMember.errors![0]).toMatchObject({ path: ['user', 'email'], extensions: { code: 'FORBIDDEN' } });
    const self = await id.exec(member.principal, q, { u: member.userId });
    expect(self.data).toEqual({ user: { id: member.userId, name: 'Mia Member', email: member.email } });
    const asOwner = await id.exec(ownerP, q, { u: member.userId });
    expect(asOwner.data!.user).toMatchObject({ email: member.email });
  });

  it('batches users through one SQL statement per request (DataLoader)', async () => {
    await addMember('VIEWER');
    await addMember('VIEWER');
    const statements: string[] = [];
    const off = id.db.onQuery((e) => statements.push(e.sql));
    try {
      const r = await id.exec<{ organization: { members: { user: { name: string } }[] } }>(
        ownerP,
        `query($id: ID!) { organization(id: $id) { members { role user { id name } organization { id } } } }`,
        { id: owner.organization.id },
      );
      expect(r.errors).toBeUndefined();
      expect(r.data!.organization.members.length).toBeGreaterThanOrEqual(4);
    } finally {
      off();
    }
    const count = (name: string) => statements.filter((s) => s.includes(`/* ${name} */`)).length;
    expect(count('usersByIds')).toBe(1);
    expect(count('membershipsByOrgIds')).toBe(1);
    expect(count('organizationsByIds')).toBe(1);
  });
});

describe('API keys', () => {
  const verify = (body: unknown, headers: Record<string, string>) =>
    id.yoga.fetch('http://subgraph/internal/api-keys/verify', { method: 'POST', headers, body: JSON.stringify(body) });
  const gateway: Principal = { kind: 'service', serviceId: 'gateway', orgId: '00000000-0000-0000-0000-000000000000', scopes: [] };

  it('creates a scoped key shown once, verifies it for the gateway only, and revokes it', async () => {
    const r = await id.exec<{ createApiKey: { secret: string; apiKey: { id: string; name: string; scopes: string[]; lastUsedAt: string | null } } }>(
      ownerP,
      CREATE_KEY,
      { n: 'Partner CRM', s: ['tasks:read', 'customers:read'] },
    );
    expect(r.errors).toBeUndefined();
    const { secret, apiKey } = r.data!.createApiKey;
    expect(secret).toMatch(/^cos_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    expect(apiKey).toMatchObject({ name: 'Partner CRM', scopes: ['customers:read', 'tasks:read'], lastUsedAt: null });
    expect(await id.admin(`SELECT 1 FROM api_key_credentials WHERE secret_hash = $1 OR prefix = $1`, [secret])).toHaveLength(0);

    // Unsigned, or signed for a user instead of a service: refused.
    expect((await verify({ secret }, { 'content-type': 'application/json' })).status).toBe(401);
    expect((await verify({ secret }, signedHeaders(ownerP))).status).toBe(401);

    const ok = await verify({ secret }, signedHeaders(gateway));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ keyId: apiKey.id, orgId: owner.organization.id, clientName: 'Partner CRM', scopes: ['customers:read', 'tasks:read'], kind: 'partner' });
    const last_used_at = (await id.admin<{ last_used_at: Date | null }>(`SELECT last_used_at FROM api_key_credentials WHERE api_key_id = $1`, [apiKey.id]))[0]!.last_used_at;
    expect(last_used_at).toBeInstanceOf(Date);
    // Touched at most once a minute.
    await verify({ secret }, signedHeaders(gateway));
    const again = (await id.admin<{ last_used_at: Date }>(`SELECT last_used_at FROM api_key_credentials WHERE api_key_id = $1`, [apiKey.id]))[0]!.last_used_at;
    expect(again.getTime()).toBe(last_used_at!.getTime());

    const wrong = await verify({ secret: secret.slice(0, -2) + (secret.endsWith('AA') ? 'BB' : 'AA') }, signedHeaders(gateway));
    expect(wrong.status).toBe(401);

    const revoked = await id.exec<{ revokeApiKey: { id: string; revokedAt: string | null } }>(
      ownerP,
      `mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`,
      { id: apiKey.id },
    );
    expect(revoked.data!.revokeApiKey.revokedAt).not.toBeNull();
    expect((await verify({ secret }, signedHeaders(gateway))).status).toBe(401);
  });

  it('refuses unknown scopes and scopes beyond the caller; VIEWER cannot create keys', async () => {
    const unknown = await id.exec(ownerP, CREATE_KEY, { n: 'x', s: ['root'] });
    expect(unknown.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'scopes' });
    const beyond = await id.exec(ownerP, CREATE_KEY, { n: 'x', s: ['agents:work'] });
    expect(beyond.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'scopes' });
    const viewer = await addMember('VIEWER');
    const forbidden = await id.exec(viewer.principal, CREATE_KEY, { n: 'x', s: ['tasks:read'] });
    expect(forbidden.errors![0]!.extensions!.code).toBe('FORBIDDEN');
  });

  it('Organization.apiKeys lists this organization’s keys and service accounts (never secrets); ADMIN/OWNER only, own org only', async () => {
    const LIST = `query($o: ID!) { organization(id: $o) { apiKeys { id name kind scopes revokedAt } } }`;
    const made = await id.exec<{ createApiKey: { secret: string; apiKey: { id: string } } }>(ownerP, CREATE_KEY, { n: 'Listed partner', s: ['tasks:read'] });
    const svc = await id.exec<{ createServiceAccount: { secret: string; apiKey: { id: string } } }>(
      ownerP,
      `mutation { createServiceAccount(name: "listed-worker") { secret apiKey { id } } }`,
    );
    expect(svc.errors).toBeUndefined();
    const r = await id.exec<{ organization: { apiKeys: { id: string; name: string; kind: string; scopes: string[] }[] } }>(ownerP, LIST, { o: owner.organization.id });
    expect(r.errors).toBeUndefined();
    const keys = r.data!.organization.apiKeys;
    expect(keys.find((k) => k.id === made.data!.createApiKey.apiKey.id)).toMatchObject({ name: 'Listed partner', kind: 'PARTNER', scopes: ['tasks:read'] });
    expect(keys.find((k) => k.id === svc.data!.createServiceAccount.apiKey.id)).toMatchObject({ name: 'listed-worker', kind: 'SERVICE' });
    expect(JSON.stringify(r.data)).not.toContain(made.data!.createApiKey.secret);
    const member = await addMember('MEMBER');
    const denied = await id.exec(member.principal, LIST, { o: owner.organization.id });
    expect(denied.errors![0]!.extensions!.code).toBe('FORBIDDEN');
    // Another organization's keys, even for its OWNER asking about this one: nothing.
    const foreign = await signUp(id);
    const foreignP = userPrincipal(foreign.user.id, foreign.organization.id, 'OWNER');
    const cross = await id.exec<{ organization: { apiKeys: unknown[] } | null }>(foreignP, LIST, { o: owner.organization.id });
    expect(cross.data?.organization?.apiKeys ?? null).toBeNull();
    expect(JSON.stringify(cross)).not.toContain('Listed partner');
  });

  it("cannot revoke another organization's key", async () => {
    const foreign = await signUp(id);
    const foreignP = userPrincipal(foreign.user.id, foreign.organization.id, 'OWNER');
    const k = await id.exec<{ createApiKey: { apiKey: { id: string } } }>(foreignP, CREATE_KEY, { n: 'theirs', s: ['org:read'] });
    const r = await id.exec(ownerP, `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, { id: k.data!.createApiKey.apiKey.id });
    expect(r.errors![0]!.extensions!.code).toBe('NOT_FOUND');
  });
});

describe('auditLog', () => {
  it('lists this organization’s identity events newest first, paginated; MEMBER is FORBIDDEN', async () => {
    const q = `query($f: Int, $a: String) { auditLog(first: $f, after: $a) { id at actor action target } }`;
    const all = await id.exec<{ auditLog: { id: string; actor: string; action: string; target: string }[] }>(ownerP, q, { f: 200 });
    expect(all.errors).toBeUndefined();
    const entries = all.data!.auditLog;
    expect(entries.length).toBeGreaterThan(5);
    expect(entries.at(-1)).toMatchObject({ action: 'UserRegistered', target: `User-${owner.user.id}`, actor: `user:${owner.user.id}` });
    const own = await id.admin<{ n: string }>(`SELECT count(*) AS n FROM events WHERE org_id = $1`, [owner.organization.id]);
    expect(entries).toHaveLength(Number(own[0]!.n));

    const page1 = await id.exec<{ auditLog: { id: string }[] }>(ownerP, q, { f: 2 });
    const page2 = await id.exec<{ auditLog: { id: string }[] }>(ownerP, q, { f: 2, a: page1.data!.auditLog[1]!.id });
    expect([...page1.data!.auditLog, ...page2.data!.auditLog].map((e) => e.id)).toEqual(entries.slice(0, 4).map((e) => e.id));

    const member = await addMember('MEMBER');
    const denied = await id.exec(member.principal, q, {});
    expect(denied.errors![0]!.extensions!.code).toBe('FORBIDDEN');
    const bad = await id.exec(ownerP, q, { f: 0 });
    expect(bad.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
  });
});

describe('rebuild', () => {
  it('replaying every event into emptied read models gives the same rows', async () => {
    const snapshot = () =>
      Promise.all(
        READ_MODEL_TABLES.map((t) => id.admin(`SELECT * FROM ${t} ORDER BY 1, 2`)),
      );
    const before = await snapshot();
    await id.systemDb.tx({ orgId: null }, async (tx) => {
      // The system role may DELETE but not TRUNCATE (the rebuild command truncates as the admin).
      for (const t of READ_MODEL_TABLES) await tx.query(`DELETE FROM ${t}`);
      await eventStore.replayAll(tx);
    });
    expect(await snapshot()).toEqual(before);
    expect(before[1]!.length).toBeGreaterThan(5);
  });
});
