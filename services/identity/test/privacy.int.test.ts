import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '@cos/auth';
import { userPrincipal } from '@cos/testing';
import { seal } from '../../../scripts/pii';
import { rebuild } from '../../../scripts/rebuild';
import { READ_MODEL_TABLES, eventStore } from '../src/projector';
import { ANON, LOGIN, PASSWORD, signUp, startIdentity, uniqueEmail, type Identity, type Session } from './harness';

let id: Identity;
let owner: Session;
let ownerP: Principal;
beforeAll(async () => {
  id = await startIdentity();
  owner = await signUp(id, { organizationName: 'Privacy Inc' });
  ownerP = userPrincipal(owner.user.id, owner.organization.id, 'OWNER');
}, 60_000);
afterAll(() => id?.close());

const INVITE = `mutation($e: String!, $n: String!, $r: Role!) { inviteMember(email: $e, name: $n, role: $r) { user { id } } }`;
const ACCEPT = `mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { accessToken } }`;
const ERASE = `mutation($u: ID!) { eraseUser(userId: $u) }`;
const USER = `query($id: ID!) { user(id: $id) { id name email } }`;
const EXPORT = `{ exportMyData { userId generatedAt identity } }`;

async function addMember(role: 'OWNER' | 'ADMIN' | 'MEMBER', name: string) {
  const email = uniqueEmail('erasable');
  const r = await id.exec<{ inviteMember: { user: { id: string } } }>(ownerP, INVITE, { e: email, n: name, r: role });
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  const rows = await id.admin<{ body: string }>(`SELECT body FROM outbound_emails WHERE lower(to_address) = lower($1)`, [email]);
  const token = /token=([A-Za-z0-9_-]+)/.exec(rows[0]!.body)![1]!;
  const a = await id.exec(ANON, ACCEPT, { t: token, p: PASSWORD });
  if (a.errors) throw new Error(JSON.stringify(a.errors));
  const userId = r.data!.inviteMember.user.id;
  return { email, name, userId, principal: userPrincipal(userId, owner.organization.id, role) };
}

/** Every place in identity's schema where a string could sit: the whole schema dumped as text. */
async function schemaContains(text: string): Promise<string[]> {
  const tables = await id.admin<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'identity' AND table_type = 'BASE TABLE'`);
  const hits: string[] = [];
  for (const { t } of tables) {
    const rows = await id.admin<{ n: string }>(`SELECT count(*) AS n FROM identity.${t} x WHERE lower(x::text) LIKE '%' || lower($1) || '%'`, [text]);
    if (Number(rows[0]!.n) > 0) hits.push(t);
  }
  return hits;
}

describe('personal data in identity events is encrypted per person', () => {
  it('the events table holds no email or name in plaintext; the graph reads them as usual', async () => {
    const m = await addMember('MEMBER', 'Zelda Plaintextless');
    const events = await id.admin<{ data: string }>(`SELECT data::text AS data FROM events WHERE data::text LIKE '%' || $1 || '%'`, [m.userId]);
    expect(events.length).toBeGreaterThanOrEqual(3); // UserRegistered, InvitationCreated, MemberJoined, InvitationAccepted
    for (const e of events) {
      expect(e.data).not.toContain(m.email);
      expect(e.data).not.toContain('Zelda');
    }
    const r = await id.exec(ownerP, USER, { id: m.userId });
    expect(r.data).toEqual({ user: { id: m.userId, name: 'Zelda Plaintextless', email: m.email } });
  });
});

/** Rewrites a person's events as they were stored before encryption (personal fields in plaintext). */
async function makeLegacy(userId: string, email: string, name: string) {
  await id.admin(
    `UPDATE events SET data = CASE type
       WHEN 'UserRegistered' THEN jsonb_build_object('userId', $1::text, 'email', $2::text, 'name', $3::text)
       ELSE jsonb_set(data, '{name}', to_jsonb($3::text)) END
     WHERE type IN ('UserRegistered', 'MemberJoined') AND data->>'userId' = $1`,
    [userId, email, name],
  );
  expect(await schemaContains(email)).toEqual(expect.arrayContaining(['events']));
}

describe('events stored before encryption', () => {
  it('still load; pnpm pii:seal seals them in place; erasure scrubs a person’s remaining plaintext at once', async () => {
    const kept = await addMember('MEMBER', 'Lena Legacy');
    const gone = await addMember('MEMBER', 'Gus Goner');
    await makeLegacy(kept.userId, kept.email, 'Lena Legacy');
    await makeLegacy(gone.userId, gone.email, 'Gus Goner');
    // plaintext events load (rebuild from them) and read as before
    await rebuild('identity', id.tdb.adminUrl, { projections: { READ_MODEL_TABLES, eventStore } });
    expect((await id.exec(ownerP, USER, { id: kept.userId })).data).toEqual({ user: { id: kept.userId, name: 'Lena Legacy', email: kept.email } });

    // erasure scrubs the erased person's plaintext events right away
    expect((await id.exec(ownerP, ERASE, { u: gone.userId })).errors).toBeUndefined();
    expect(await schemaContains(gone.email)).toEqual([]);
    expect(await schemaContains('Gus Goner')).toEqual([]);

    // the maintenance command seals everyone else's
    const sealed = await seal('identity', id.tdb.adminUrl);
    expect(sealed).toBeGreaterThanOrEqual(2);
    const events = await id.admin<{ n: string }>(`SELECT count(*) AS n FROM events WHERE data::text LIKE '%Lena Legacy%'`);
    expect(Number(events[0]!.n)).toBe(0);
    expect(await seal('identity', id.tdb.adminUrl)).toBe(0);
    expect((await id.exec(ownerP, USER, { id: kept.userId })).data).toEqual({ user: { id: kept.userId, name: 'Lena Legacy', email: kept.email } });
  });
});

describe('eraseUser', () => {
  it('crypto-shreds the person: graph, read models, sessions and a rebuild all forget them; audited', async () => {
    const m = await addMember('MEMBER', 'Erin Erasable');
    // a session exists (acceptInvitation signed them in) and a login works
    expect((await id.exec(ANON, LOGIN, { e: m.email, p: PASSWORD })).errors).toBeUndefined();

    const r = await id.exec<{ eraseUser: boolean }>(ownerP, ERASE, { u: m.userId });
    expect(r.errors).toBeUndefined();
    expect(r.data!.eraseUser).toBe(true);

    const u = await id.exec(ownerP, USER, { id: m.userId });
    expect(u.data).toEqual({ user: { id: m.userId, name: '[erased]', email: '[erased]' } });
    const members = await id.exec<{ organization: { members: Array<{ user: { id: string } }> } }>(
      ownerP,
      `query($o: ID!) { organization(id: $o) { members { user { id } } } }`,
      { o: owner.organization.id },
    );
    expect(members.data!.organization.members.map((x) => x.user.id)).not.toContain(m.userId);
    // cannot sign in any more (no credentials), and nothing about them is stored in plaintext anywhere in the schema
    expect((await id.exec(ANON, LOGIN, { e: m.email, p: PASSWORD })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(await id.admin(`SELECT 1 FROM refresh_tokens WHERE user_id = $1`, [m.userId])).toHaveLength(0);
    expect(await schemaContains(m.email)).toEqual([]);
    expect(await schemaContains('Erin Erasable')).toEqual([]);
    // the key is a tombstone; the event and its audit entry name the OWNER as actor
    expect(await id.admin(`SELECT 1 FROM pii_keys WHERE subject_id = $1 AND wrapped_key IS NULL AND erased_at IS NOT NULL`, [m.userId])).toHaveLength(1);
    const audit = await id.admin<{ actor: string; target: string }>(`SELECT actor, target FROM audit_entries WHERE action = 'UserErased'`);
    expect(audit).toContainEqual({ actor: `user:${owner.user.id}`, target: `User-${m.userId}` });

    // Rebuild the read models from the events: the person stays erased.
    const rebuilt = await rebuild('identity', id.tdb.adminUrl, { projections: { READ_MODEL_TABLES, eventStore } });
    expect(rebuilt.events).toBeGreaterThan(0);
    const after = await id.admin<{ email: string | null; name: string }>(`SELECT email, name FROM users WHERE id = $1`, [m.userId]);
    expect(after).toEqual([{ email: null, name: '[erased]' }]);
    expect(await schemaContains(m.email)).toEqual([]);
    expect((await id.exec(ownerP, USER, { id: owner.user.id })).data).toMatchObject({ user: { name: 'Olivia Owner' } });

    // Erasing again changes nothing and answers true.
    const again = await id.exec<{ eraseUser: boolean }>(ownerP, ERASE, { u: m.userId });
    expect(again.data?.eraseUser).toBe(true);
    expect(await id.admin(`SELECT 1 FROM events WHERE type = 'UserErased' AND stream_id = $1`, [`User-${m.userId}`])).toHaveLength(1);
  });

  it('only an OWNER: ADMIN and MEMBER are FORBIDDEN, and an API key cannot be granted privacy:erase', async () => {
    const victim = await addMember('MEMBER', 'Vic Tim');
    const admin = await addMember('ADMIN', 'Ada Admin');
    for (const p of [admin.principal, victim.principal]) {
      const r = await id.exec(p, ERASE, { u: victim.userId });
      expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    const key = await id.exec(ownerP, `mutation { createApiKey(name: "eraser", scopes: ["privacy:erase"]) { secret } }`);
    expect(key.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const apiKeyP: Principal = { kind: 'apiKey', keyId: 'k', orgId: owner.organization.id, clientName: 'x', scopes: ['privacy:erase'] } as Principal;
    expect((await id.exec(apiKeyP, ERASE, { u: victim.userId })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await id.exec(ownerP, USER, { id: victim.userId })).data).toMatchObject({ user: { name: 'Vic Tim' } });
  });

  it('tenant isolation: an OWNER of another organization gets NOT_FOUND and nothing changes', async () => {
    const victim = await addMember('MEMBER', 'Iso Lated');
    const other = await signUp(id, { organizationName: 'Other Org' });
    const otherP = userPrincipal(other.user.id, other.organization.id, 'OWNER');
    const r = await id.exec(otherP, ERASE, { u: victim.userId });
    expect(r.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await id.admin(`SELECT 1 FROM pii_keys WHERE subject_id = $1 AND wrapped_key IS NOT NULL`, [victim.userId])).toHaveLength(1);
    expect((await id.exec(ownerP, USER, { id: victim.userId })).data).toMatchObject({ user: { name: 'Iso Lated' } });
    // and the OWNER of A cannot erase the OWNER of B either
    expect((await id.exec(ownerP, ERASE, { u: other.user.id })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('nobody is erased out of the last OWNER seat (themselves included); with a second OWNER it works', async () => {
    const self = await id.exec(ownerP, ERASE, { u: owner.user.id });
    expect(self.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'userId' });
    expect(self.errors?.[0]?.message).toMatch(/last OWNER/);

    const solo = await signUp(id, { organizationName: 'Solo' });
    const co = await addMember('OWNER', 'Co Owner');
    // the co-owner founded nothing else; erasing the founder of "Solo" from here is NOT_FOUND (not our member)
    expect((await id.exec(ownerP, ERASE, { u: solo.user.id })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    // with two OWNERs, one may erase themself
    const r = await id.exec<{ eraseUser: boolean }>(co.principal, ERASE, { u: co.userId });
    expect(r.errors).toBeUndefined();
  });

  it('a person who also belongs to an organization the caller does not own is FORBIDDEN', async () => {
    const other = await signUp(id, { organizationName: 'Shared' });
    const otherP = userPrincipal(other.user.id, other.organization.id, 'OWNER');
    const m = await addMember('MEMBER', 'Two Orgs');
    // the person joins "Shared" too (an existing account joins at once)
    const join = await id.exec(otherP, INVITE, { e: m.email, n: 'Two Orgs', r: 'MEMBER' });
    expect(join.errors).toBeUndefined();
    const r = await id.exec(ownerP, ERASE, { u: m.userId });
    expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('exportMyData (identity part)', () => {
  it('a person gets their profile, memberships, sessions and audit entries, no secrets; API keys are refused', async () => {
    const m = await addMember('MEMBER', 'Expo Rter');
    const r = await id.exec<{ exportMyData: { userId: string; identity: any } }>(m.principal, EXPORT);
    expect(r.errors).toBeUndefined();
    const x = r.data!.exportMyData;
    expect(x.userId).toBe(m.userId);
    expect(x.identity.profile).toMatchObject({ id: m.userId, name: 'Expo Rter', email: m.email });
    expect(x.identity.memberships).toEqual([expect.objectContaining({ organizationId: owner.organization.id, role: 'MEMBER' })]);
    expect(x.identity.sessions.length).toBeGreaterThanOrEqual(1);
    expect(x.identity.auditEntries.map((a: { action: string }) => a.action)).toEqual(expect.arrayContaining(['UserRegistered', 'MemberJoined']));
    const text = JSON.stringify(x);
    expect(text).not.toMatch(/password|token_hash|tokenHash|secret/i);
    // someone else's export is not reachable through the entity either
    const foreign = await id.exec(ownerP, `query($r: [_Any!]!) { _entities(representations: $r) { ... on MyDataExport { identity } } }`, {
      r: [{ __typename: 'MyDataExport', userId: m.userId }],
    });
    expect(foreign.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const apiKeyP = { kind: 'apiKey', keyId: 'k', orgId: owner.organization.id, clientName: 'x', scopes: ['org:read'] } as Principal;
    expect((await id.exec(apiKeyP, EXPORT)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await id.exec(ANON, EXPORT)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});
