import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '@cos/auth';
import { userPrincipal } from '@cos/testing';
import { ANON, LOGIN, PASSWORD, signUp, startIdentity, uniqueEmail, type Identity, type Session } from './harness';

let id: Identity;
let owner: Session;
let ownerP: Principal;
beforeAll(async () => {
  id = await startIdentity();
  owner = await signUp(id, { organizationName: 'Removals' });
  ownerP = userPrincipal(owner.user.id, owner.organization.id, 'OWNER');
});
afterAll(async () => {
  await id?.close();
});

const INVITE = `mutation($e: String!, $n: String!, $r: Role!) { inviteMember(email: $e, name: $n, role: $r) { user { id } } }`;
const ACCEPT = `mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { refreshToken } }`;
const CHANGE_ROLE = `mutation($u: ID!, $r: Role!) { changeRole(userId: $u, role: $r) { role } }`;
const REMOVE = `mutation($u: ID!) { removeMember(userId: $u) }`;
const MEMBERS = `query($id: ID!) { organization(id: $id) { members { role user { id } } } }`;

async function addMember(role: 'OWNER' | 'ADMIN' | 'MEMBER' | 'VIEWER') {
  const email = uniqueEmail(role.toLowerCase());
  const r = await id.exec<{ inviteMember: { user: { id: string } } }>(ownerP, INVITE, { e: email, n: `${role} person`, r: role });
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  const [mail] = await id.admin<{ body: string }>(`SELECT body FROM outbound_emails WHERE lower(to_address) = lower($1) ORDER BY created_at DESC LIMIT 1`, [email]);
  const token = /token=([A-Za-z0-9_-]+)/.exec(mail?.body ?? '')?.[1];
  const accepted = await id.exec<{ acceptInvitation: { refreshToken: string } }>(ANON, ACCEPT, { t: token, p: PASSWORD });
  if (accepted.errors) throw new Error(JSON.stringify(accepted.errors));
  const userId = r.data!.inviteMember.user.id;
  return { email, userId, refreshToken: accepted.data!.acceptInvitation.refreshToken, principal: userPrincipal(userId, owner.organization.id, role) };
}

const memberIds = async () => {
  const r = await id.exec<{ organization: { members: { user: { id: string } }[] } }>(ownerP, MEMBERS, { id: owner.organization.id });
  return r.data!.organization.members.map((m) => m.user.id);
};
const memberRemovedEvents = (userId: string) =>
  id.admin<{ type: string; data: { userId: string }; metadata: { actor: string } }>(
    `SELECT type, data, metadata FROM events WHERE type = 'MemberRemoved' AND data->>'userId' = $1`,
    [userId],
  );

describe('removeMember', () => {
  it('an ADMIN removes a MEMBER: MemberRemoved is appended, the membership is gone, login and refresh stop working', async () => {
    const admin = await addMember('ADMIN');
    const m = await addMember('MEMBER');
    const r = await id.exec(admin.principal, REMOVE, { u: m.userId });
    expect(r.errors).toBeUndefined();
    expect(r.data).toEqual({ removeMember: true });
    expect(await memberIds()).not.toContain(m.userId);
    const events = await memberRemovedEvents(m.userId);
    expect(events).toHaveLength(1);
    expect(events[0]!.metadata.actor).toBe(`user:${admin.userId}`);

    const login = await id.exec(ANON, LOGIN, { e: m.email, p: PASSWORD, o: owner.organization.id });
    expect(login.errors?.[0]?.extensions?.code).toBe('FORBIDDEN'); // right password, no longer a member
    const refresh = await id.exec(ANON, `mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }`, { t: m.refreshToken });
    expect(refresh.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    // Removing someone who is no longer a member: NOT_FOUND, nothing appended.
    const again = await id.exec(admin.principal, REMOVE, { u: m.userId });
    expect(again.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await memberRemovedEvents(m.userId)).toHaveLength(1);
  });

  it('MEMBER and VIEWER get FORBIDDEN; an ADMIN cannot remove an OWNER; nothing is written', async () => {
    const viewer = await addMember('VIEWER');
    const member = await addMember('MEMBER');
    const admin = await addMember('ADMIN');
    for (const p of [viewer.principal, member.principal]) {
      const r = await id.exec(p, REMOVE, { u: admin.userId });
      expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    const r = await id.exec(admin.principal, REMOVE, { u: owner.user.id });
    expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await memberIds()).toEqual(expect.arrayContaining([admin.userId, owner.user.id]));
    expect(await memberRemovedEvents(admin.userId)).toHaveLength(0);
    expect(await memberRemovedEvents(owner.user.id)).toHaveLength(0);
  });

  it('the last OWNER cannot be removed; with a second OWNER one of them can go', async () => {
    const last = await id.exec(ownerP, REMOVE, { u: owner.user.id });
    expect(last.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'userId' });
    expect(await memberIds()).toContain(owner.user.id);

    const second = await addMember('MEMBER');
    const promoted = await id.exec(ownerP, CHANGE_ROLE, { u: second.userId, r: 'OWNER' });
    expect(promoted.errors).toBeUndefined();
    const r = await id.exec(ownerP, REMOVE, { u: second.userId });
    expect(r.data).toEqual({ removeMember: true });
    expect(await memberIds()).not.toContain(second.userId);
  });

  it('bad ids, unknown members and members of another organization', async () => {
    const bad = await id.exec(ownerP, REMOVE, { u: 'nope' });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'userId' });
    const unknown = await id.exec(ownerP, REMOVE, { u: '00000000-0000-4000-8000-000000000000' });
    expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const foreign = await signUp(id, { organizationName: 'Elsewhere' });
    const cross = await id.exec(ownerP, REMOVE, { u: foreign.user.id });
    expect(cross.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const foreignP = userPrincipal(foreign.user.id, foreign.organization.id, 'OWNER');
    const theirs = await id.exec<{ organization: { members: { user: { id: string } }[] } }>(foreignP, MEMBERS, { id: foreign.organization.id });
    expect(theirs.data!.organization.members.map((m) => m.user.id)).toEqual([foreign.user.id]);
    const anon = await id.exec(ANON, REMOVE, { u: owner.user.id });
    expect(anon.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});
