import { describe, expect, it } from 'vitest';
import type { IdentityEvent } from '@cos/events';
import { apiKeyAggregate, evolveApiKey, initialApiKey, isApiKeyEvent, type ApiKeyEvent, type ApiKeyState } from '../src/domain/api-key';
import {
  evolveInvitation,
  initialInvitation,
  invitationAggregate,
  isInvitationEvent,
  type InvitationEvent,
  type InvitationState,
} from '../src/domain/invitation';
import {
  evolveOrganization,
  initialOrganization,
  isOrganizationEvent,
  organizationAggregate,
  type OrganizationEvent,
  type OrganizationState,
} from '../src/domain/organization';
import { evolveUser, initialUser, isUserEvent, userAggregate, type UserEvent, type UserState } from '../src/domain/user';
import {
  evolvePersistedClient,
  isPersistedClientEvent,
  persistedClientAggregate,
  type PersistedClientEvent,
  type PersistedClientState,
} from '../src/persisted/domain';

const orgId = '00000000-0000-4000-8000-000000000001';
const owner = '00000000-0000-4000-8000-0000000000aa';
const other = '00000000-0000-4000-8000-0000000000bb';

/**
 * One case per member of each aggregate's union: the mapped types make a new event type a compile error here until it
 * has a case, and evolve's `never` check makes it one there until it is handled. `expect` is the whole next state.
 */
type Cases<E extends IdentityEvent, S> = { [T in E['type']]: { from: S; event: Extract<E, { type: T }>; expect: S } };

const registered: UserState = { ...initialUser, exists: true };
const userCases: Cases<UserEvent, UserState> = {
  UserRegistered: { from: initialUser, event: { type: 'UserRegistered', data: { userId: owner, email: 'o@x.test', name: 'Olivia' } }, expect: registered },
  // A sign-in is audit only: the state decide() looks at stays as it was.
  UserLoggedIn: { from: registered, event: { type: 'UserLoggedIn', data: { userId: owner } }, expect: registered },
  UserErased: { from: registered, event: { type: 'UserErased', data: { userId: owner } }, expect: { ...registered, erased: true } },
  NotificationPreferencesChanged: {
    from: registered,
    event: { type: 'NotificationPreferencesChanged', data: { userId: owner, disabled: ['TASK_ASSIGNED', 'APPROVAL_REQUESTED'], via: 'unsubscribe' } },
    expect: { ...registered, disabledNotifications: ['APPROVAL_REQUESTED', 'TASK_ASSIGNED'] },
  },
};

const withOwner: OrganizationState = { exists: true, members: { [owner]: 'OWNER' } };
const withTwo: OrganizationState = { exists: true, members: { [owner]: 'OWNER', [other]: 'MEMBER' } };
const organizationCases: Cases<OrganizationEvent, OrganizationState> = {
  OrganizationCreated: {
    from: initialOrganization,
    event: { type: 'OrganizationCreated', data: { organizationId: orgId, name: 'Acme', slug: 'acme', ownerId: owner } },
    expect: { exists: true, members: {} },
  },
  MemberJoined: { from: withOwner, event: { type: 'MemberJoined', data: { organizationId: orgId, userId: other, name: 'Bo', role: 'MEMBER' } }, expect: withTwo },
  MemberRoleChanged: {
    from: withTwo,
    event: { type: 'MemberRoleChanged', data: { organizationId: orgId, userId: other, role: 'ADMIN', previousRole: 'MEMBER' } },
    expect: { exists: true, members: { [owner]: 'OWNER', [other]: 'ADMIN' } },
  },
  MemberRemoved: { from: withTwo, event: { type: 'MemberRemoved', data: { organizationId: orgId, userId: other } }, expect: withOwner },
};

const expiresAt = '2026-12-31T00:00:00.000Z';
const pendingInvitation: InvitationState = { status: 'pending', expiresAt, userId: other, role: 'VIEWER' };
const invitationCases: Cases<InvitationEvent, InvitationState> = {
  InvitationCreated: {
    from: initialInvitation,
    event: { type: 'InvitationCreated', data: { invitationId: 'i1', userId: other, email: 'b@x.test', name: 'Bo', role: 'VIEWER', tokenHash: 'h', expiresAt } },
    expect: pendingInvitation,
  },
  InvitationAccepted: {
    from: pendingInvitation,
    event: { type: 'InvitationAccepted', data: { invitationId: 'i1', userId: other } },
    expect: { ...pendingInvitation, status: 'accepted' },
  },
};

const apiKeyCases: Cases<ApiKeyEvent, ApiKeyState> = {
  ApiKeyCreated: {
    from: initialApiKey,
    event: { type: 'ApiKeyCreated', data: { apiKeyId: 'k1', name: 'ci', scopes: ['org:read'], prefix: 'cos_k1' } },
    expect: { exists: true, revoked: false },
  },
  ApiKeyRevoked: { from: { exists: true, revoked: false }, event: { type: 'ApiKeyRevoked', data: { apiKeyId: 'k1' } }, expect: { exists: true, revoked: true } },
};

const op = (id: string) => ({ id, name: `Op${id}`, type: 'query' as const, body: `query Op${id} { viewer { id } }` });
const persistedClientCases: Cases<PersistedClientEvent, PersistedClientState> = {
  PersistedOperationsPublished: {
    from: { ids: new Set(['a']) },
    event: { type: 'PersistedOperationsPublished', data: { client: 'web', operations: [op('b'), op('c')] } },
    expect: { ids: new Set(['a', 'b', 'c']) },
  },
  PersistedOperationsRevoked: {
    from: { ids: new Set(['a', 'b']) },
    event: { type: 'PersistedOperationsRevoked', data: { client: 'web', ids: ['a', 'x'] } },
    expect: { ids: new Set(['b']) },
  },
};

/** Each aggregate with its cases, its evolve, the event store's wrapper and its guard. */
const aggregates = [
  { name: 'User', cases: userCases, evolve: evolveUser, aggregate: userAggregate, is: isUserEvent },
  { name: 'Organization', cases: organizationCases, evolve: evolveOrganization, aggregate: organizationAggregate, is: isOrganizationEvent },
  { name: 'Invitation', cases: invitationCases, evolve: evolveInvitation, aggregate: invitationAggregate, is: isInvitationEvent },
  { name: 'ApiKey', cases: apiKeyCases, evolve: evolveApiKey, aggregate: apiKeyAggregate, is: isApiKeyEvent },
  { name: 'PersistedClient', cases: persistedClientCases, evolve: evolvePersistedClient, aggregate: persistedClientAggregate, is: isPersistedClientEvent },
] as unknown as Array<{
  name: string;
  cases: Record<string, { from: unknown; event: IdentityEvent; expect: unknown }>;
  evolve: (s: unknown, e: IdentityEvent) => unknown;
  aggregate: { initial: unknown; evolve: (s: unknown, e: IdentityEvent) => unknown };
  is: (e: IdentityEvent) => boolean;
}>;

describe('evolve handles every event of its aggregate', () => {
  for (const { name, cases, evolve, aggregate } of aggregates) {
    for (const [type, c] of Object.entries(cases)) {
      it(`${name}: ${type}`, () => {
        expect(evolve(c.from, c.event)).toEqual(c.expect);
        // The event store's wrapper folds the aggregate's own events the same way.
        expect(aggregate.evolve(c.from, c.event)).toEqual(c.expect);
      });
    }
  }

  it('the unions are disjoint, and each aggregate ignores the other ones\' events', () => {
    for (const { name, cases } of aggregates) {
      for (const c of Object.values(cases)) {
        expect(aggregates.filter((a) => a.is(c.event)).map((a) => a.name)).toEqual([name]);
        for (const other of aggregates.filter((a) => a.name !== name)) {
          expect(other.aggregate.evolve(other.aggregate.initial, c.event)).toBe(other.aggregate.initial);
        }
      }
    }
  });

  it('the one-event audit streams (LoginAttempt, Session) belong to no aggregate', () => {
    const audit: IdentityEvent[] = [
      { type: 'LoginFailed', data: { attemptId: 'a1', userId: null, reason: 'invalid_credentials', ip: null } },
      { type: 'RefreshTokenReused', data: { userId: owner, familyId: 'f1', ip: null } },
    ];
    for (const e of audit) expect(aggregates.filter((a) => a.is(e))).toEqual([]);
  });
});
