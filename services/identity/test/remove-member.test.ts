import { describe, expect, it } from 'vitest';
import { decideOrganization, evolveOrganization, initialOrganization, type OrganizationState } from '../src/domain/organization';

const org = 'o1';
const state = (members: OrganizationState['members']): OrganizationState => ({ exists: true, members });
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { extensions?: { code?: string; field?: string } }).extensions;
  }
  return undefined;
};

describe('RemoveMember (pure)', () => {
  const s = state({ o: 'OWNER', a: 'ADMIN', m: 'MEMBER' });
  it('ADMIN/OWNER remove a member; evolve drops them', () => {
    const events = decideOrganization({ type: 'RemoveMember', organizationId: org, userId: 'm', actorRole: 'ADMIN' }, s);
    expect(events).toEqual([{ type: 'MemberRemoved', data: { organizationId: org, userId: 'm' } }]);
    expect(evolveOrganization(s, { ...events[0]!, id: 'e', orgId: org } as never).members).toEqual({ o: 'OWNER', a: 'ADMIN' });
  });
  it('refuses MEMBER/VIEWER actors, an ADMIN removing an OWNER, the last OWNER, unknown members and organizations', () => {
    expect(code(() => decideOrganization({ type: 'RemoveMember', organizationId: org, userId: 'a', actorRole: 'MEMBER' }, s))).toMatchObject({ code: 'FORBIDDEN' });
    expect(code(() => decideOrganization({ type: 'RemoveMember', organizationId: org, userId: 'o', actorRole: 'ADMIN' }, s))).toMatchObject({ code: 'FORBIDDEN' });
    expect(code(() => decideOrganization({ type: 'RemoveMember', organizationId: org, userId: 'o', actorRole: 'OWNER' }, s))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'userId',
    });
    expect(decideOrganization({ type: 'RemoveMember', organizationId: org, userId: 'o', actorRole: 'OWNER' }, state({ o: 'OWNER', p: 'OWNER' }))).toHaveLength(1);
    expect(code(() => decideOrganization({ type: 'RemoveMember', organizationId: org, userId: 'x', actorRole: 'OWNER' }, s))).toMatchObject({ code: 'NOT_FOUND' });
    expect(code(() => decideOrganization({ type: 'RemoveMember', organizationId: org, userId: 'm', actorRole: 'OWNER' }, initialOrganization))).toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});
