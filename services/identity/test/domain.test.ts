import { describe, expect, it } from 'vitest';
import type { IdentityEvent } from '@cos/events';
import { decideOrganization, evolveOrganization, initialOrganization, slugify, type OrganizationState } from '../src/domain/organization';
import { decideInvitation, evolveInvitation, initialInvitation } from '../src/domain/invitation';
import { decideApiKey, evolveApiKey, initialApiKey } from '../src/domain/api-key';
import { decideUser, evolveUser, initialUser, passwordProblem } from '../src/domain/user';

const fold = <S, E extends IdentityEvent>(evolve: (s: S, e: E) => S, initial: S, events: E[]) => events.reduce(evolve, initial);
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { extensions?: Record<string, unknown> }).extensions;
  }
  throw new Error('expected an error');
};

const ORG = '00000000-0000-4000-8000-000000000001';
const OWNER = '00000000-0000-4000-8000-0000000000aa';
const OTHER = '00000000-0000-4000-8000-0000000000bb';

function orgWith(members: Record<string, 'OWNER' | 'ADMIN' | 'MEMBER' | 'VIEWER'>): OrganizationState {
  return { exists: true, members };
}

describe('Organization aggregate', () => {
  it('creates an organization with its owner as OWNER', () => {
    const events = decideOrganization(
      { type: 'CreateOrganization', organizationId: ORG, name: 'Acme', slug: 'acme', ownerId: OWNER, ownerName: 'Olivia' },
      initialOrganization,
    );
    expect(events.map((e) => e.type)).toEqual(['OrganizationCreated', 'MemberJoined']);
    const state = fold(evolveOrganization, initialOrganization, events);
    expect(state).toEqual({ exists: true, members: { [OWNER]: 'OWNER' } });
  });

  it('refuses to add an existing member, or skips when asked', () => {
    const state = orgWith({ [OWNER]: 'OWNER' });
    const add = { type: 'AddMember' as const, organizationId: ORG, userId: OWNER, name: 'x', role: 'MEMBER' as const };
    expect(code(() => decideOrganization({ ...add, ifAlreadyMember: 'reject' }, state))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'email' });
    expect(decideOrganization({ ...add, ifAlreadyMember: 'skip' }, state)).toEqual([]);
  });

  it('never demotes the last OWNER', () => {
    const state = orgWith({ [OWNER]: 'OWNER', [OTHER]: 'ADMIN' });
    expect(
      code(() => decideOrganization({ type: 'ChangeRole', organizationId: ORG, userId: OWNER, role: 'ADMIN', actorRole: 'OWNER' }, state)),
    ).toMatchObject({ code: 'BAD_USER_INPUT', field: 'role' });
  });

  it('lets an OWNER demote another OWNER when one remains', () => {
    const state = orgWith({ [OWNER]: 'OWNER', [OTHER]: 'OWNER' });
    const events = decideOrganization({ type: 'ChangeRole', organizationId: ORG, userId: OTHER, role: 'MEMBER', actorRole: 'OWNER' }, state);
    expect(events).toEqual([
      { type: 'MemberRoleChanged', data: { organizationId: ORG, userId: OTHER, role: 'MEMBER', previousRole: 'OWNER' } },
    ]);
    expect(evolveOrganization(state, events[0]!).members[OTHER]).toBe('MEMBER');
  });

  it('only an OWNER grants OWNER or touches an OWNER', () => {
    const state = orgWith({ [OWNER]: 'OWNER', [OTHER]: 'MEMBER' });
    expect(
      code(() => decideOrganization({ type: 'ChangeRole', organizationId: ORG, userId: OTHER, role: 'OWNER', actorRole: 'ADMIN' }, state)),
    ).toMatchObject({ code: 'FORBIDDEN' });
    expect(
      code(() => decideOrganization({ type: 'ChangeRole', organizationId: ORG, userId: OWNER, role: 'VIEWER', actorRole: 'ADMIN' }, state)),
    ).toMatchObject({ code: 'FORBIDDEN' });
    expect(
      decideOrganization({ type: 'ChangeRole', organizationId: ORG, userId: OTHER, role: 'VIEWER', actorRole: 'ADMIN' }, state),
    ).toHaveLength(1);
  });

  it('changing to the same role is a no-op; unknown member is NOT_FOUND', () => {
    const state = orgWith({ [OWNER]: 'OWNER', [OTHER]: 'MEMBER' });
    expect(decideOrganization({ type: 'ChangeRole', organizationId: ORG, userId: OTHER, role: 'MEMBER', actorRole: 'OWNER' }, state)).toEqual([]);
    const stranger = '00000000-0000-4000-8000-0000000000cc';
    expect(
      code(() => decideOrganization({ type: 'ChangeRole', organizationId: ORG, userId: stranger, role: 'MEMBER', actorRole: 'OWNER' }, state)),
    ).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('slugifies names', () => {
    expect(slugify('Acme Corp!')).toBe('acme-corp');
    expect(slugify('  Ünïcödé  Ltd ')).toBe('unicode-ltd');
    expect(slugify('!!!')).toBe('org');
  });
});

describe('Invitation aggregate', () => {
  const create = {
    type: 'CreateInvitation' as const,
    invitationId: 'i1',
    userId: OTHER,
    email: 'a@b.test',
    name: 'A',
    role: 'VIEWER' as const,
    tokenHash: 'h',
    expiresAt: new Date('2030-01-01T00:00:00Z'),
  };
  it('is accepted once, before it expires', () => {
    const state = fold(evolveInvitation, initialInvitation, decideInvitation(create, initialInvitation));
    expect(state.status).toBe('pending');
    const accept = { type: 'AcceptInvitation' as const, invitationId: 'i1', userId: OTHER, now: new Date('2029-12-31T00:00:00Z') };
    const accepted = decideInvitation(accept, state);
    expect(accepted).toEqual([{ type: 'InvitationAccepted', data: { invitationId: 'i1', userId: OTHER } }]);
    const after = fold(evolveInvitation, state, accepted);
    expect(code(() => decideInvitation(accept, after))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'token' });
  });
  it('refuses an expired invitation', () => {
    const state = fold(evolveInvitation, initialInvitation, decideInvitation(create, initialInvitation));
    expect(
      code(() => decideInvitation({ type: 'AcceptInvitation', invitationId: 'i1', userId: OTHER, now: new Date('2030-01-02T00:00:00Z') }, state)),
    ).toMatchObject({ code: 'BAD_USER_INPUT', field: 'token' });
  });
});

describe('ApiKey aggregate', () => {
  const create = { type: 'CreateApiKey' as const, apiKeyId: 'k1', name: 'Partner', prefix: 'abcd1234', callerScopes: ['tasks:read', 'org:read'] };
  it('grants only known scopes the caller holds', () => {
    expect(code(() => decideApiKey({ ...create, scopes: ['tasks:fly'] }, initialApiKey))).toMatchObject({ field: 'scopes' });
    expect(code(() => decideApiKey({ ...create, scopes: ['customers:finance'] }, initialApiKey))).toMatchObject({ field: 'scopes' });
    expect(code(() => decideApiKey({ ...create, scopes: [] }, initialApiKey))).toMatchObject({ field: 'scopes' });
    const events = decideApiKey({ ...create, scopes: ['tasks:read', 'org:read', 'tasks:read'] }, initialApiKey);
    expect(events).toEqual([{ type: 'ApiKeyCreated', data: { apiKeyId: 'k1', name: 'Partner', scopes: ['org:read', 'tasks:read'], prefix: 'abcd1234' } }]);
  });
  it('revokes once; unknown keys are NOT_FOUND', () => {
    expect(code(() => decideApiKey({ type: 'RevokeApiKey', apiKeyId: 'k1' }, initialApiKey))).toMatchObject({ code: 'NOT_FOUND' });
    const created = fold(evolveApiKey, initialApiKey, decideApiKey({ ...create, scopes: ['org:read'] }, initialApiKey));
    const revoked = decideApiKey({ type: 'RevokeApiKey', apiKeyId: 'k1' }, created);
    expect(revoked).toHaveLength(1);
    expect(decideApiKey({ type: 'RevokeApiKey', apiKeyId: 'k1' }, fold(evolveApiKey, created, revoked))).toEqual([]);
  });  it('a service account gets exactly agents:work (kind service), once; it revokes like any key', () => {
    const sa = { type: 'CreateServiceAccount' as const, apiKeyId: 's1', name: 'worker', prefix: 'ffff0000' };
    const events = decideApiKey(sa, initialApiKey);
    expect(events).toEqual([{ type: 'ApiKeyCreated', data: { apiKeyId: 's1', name: 'worker', scopes: ['agents:work'], prefix: 'ffff0000', kind: 'service' } }]);
    const created = fold(evolveApiKey, initialApiKey, events);
    expect(code(() => decideApiKey(sa, created))).toMatchObject({ field: 'id' });
    expect(decideApiKey({ type: 'RevokeApiKey', apiKeyId: 's1' }, created)).toHaveLength(1);
  });
  it('a service account may add read scopes for its tools, never a write or admin scope', () => {
    const sa = { type: 'CreateServiceAccount' as const, apiKeyId: 's2', name: 'worker', prefix: 'ffff0001' };
    const [e] = decideApiKey({ ...sa, readScopes: ['tasks:read', 'customers:read', 'tasks:read'] }, initialApiKey);
    expect(e!.data).toMatchObject({ scopes: ['agents:work', 'customers:read', 'tasks:read'], kind: 'service' });
    for (const bad of ['tasks:write', 'approvals:decide', 'members:manage', 'customers:finance', 'nope']) {
      expect(code(() => decideApiKey({ ...sa, readScopes: [bad] }, initialApiKey))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'scopes' });
    }
  });
});

describe('User aggregate and password policy', () => {
  it('registers once and records logins of existing users', () => {
    const registered = fold(evolveUser, initialUser, decideUser({ type: 'RegisterUser', userId: 'u', email: 'e', name: 'n' }, initialUser));
    expect(registered.exists).toBe(true);
    expect(code(() => decideUser({ type: 'RegisterUser', userId: 'u', email: 'e', name: 'n' }, registered))).toMatchObject({ field: 'email' });
    expect(decideUser({ type: 'RecordLogin', userId: 'u' }, registered)).toEqual([{ type: 'UserLoggedIn', data: { userId: 'u' } }]);
  });
  it('refuses short, one-kind, common and repeated passwords', () => {
    expect(passwordProblem('short-1')).toMatch(/at least 10/);
    expect(passwordProblem('onlyletterslong')).toMatch(/mix/);
    expect(passwordProblem('password123')).toMatch(/common/);
    expect(passwordProblem('x'.repeat(129))).toMatch(/at most/);
    expect(passwordProblem('demo-password-1')).toBeNull();
  });
});

describe('User aggregate: erasure', () => {
  const registered = evolveUser(initialUser, { type: 'UserRegistered', data: { userId: 'u', email: 'e@x', name: 'N' } });
  it('erasing emits UserErased once; an erased person is not erased again and cannot sign in', () => {
    expect(decideUser({ type: 'EraseUser', userId: 'u' }, registered)).toEqual([{ type: 'UserErased', data: { userId: 'u' } }]);
    const erased = evolveUser(registered, { type: 'UserErased', data: { userId: 'u' } });
    expect(decideUser({ type: 'EraseUser', userId: 'u' }, erased)).toEqual([]);
    expect(() => decideUser({ type: 'RecordLogin', userId: 'u' }, erased)).toThrow(/not found/);
    expect(() => decideUser({ type: 'EraseUser', userId: 'u' }, initialUser)).toThrow(/not found/);
  });
});
