import { isStreamEvent, type IdentityEvent, type Role, type StreamEventType } from '@cos/events';
import { badInput, forbidden, notFound } from '@cos/errors';

/** Organization aggregate (stream `Organization-<id>`): who belongs to it and with which role. */
export interface OrganizationState {
  exists: boolean;
  members: Record<string, Role>;
}

export const initialOrganization: OrganizationState = { exists: false, members: {} };

export type OrganizationCommand =
  | { type: 'CreateOrganization'; organizationId: string; name: string; slug: string; ownerId: string; ownerName: string }
  | {
      type: 'AddMember';
      organizationId: string;
      userId: string;
      name: string;
      role: Role;
      /** 'reject' for an invitation of an existing member; 'skip' when accepting an invitation twice is harmless. */
      ifAlreadyMember: 'reject' | 'skip';
    }
  | { type: 'ChangeRole'; organizationId: string; userId: string; role: Role; actorRole: Role }
  | { type: 'RemoveMember'; organizationId: string; userId: string; actorRole: Role };

/** The events of an Organization stream (EVENT_CATALOG.identity.Organization); `evolveOrganization` handles each one. */
export type OrganizationEvent = Extract<IdentityEvent, { type: StreamEventType<'identity', 'Organization'> }>;
export const isOrganizationEvent = isStreamEvent('identity', 'Organization');

export function decideOrganization(cmd: OrganizationCommand, state: OrganizationState): OrganizationEvent[] {
  switch (cmd.type) {
    case 'CreateOrganization': {
      if (state.exists) throw badInput('organizationName', 'Organization already exists');
      return [
        { type: 'OrganizationCreated', data: { organizationId: cmd.organizationId, name: cmd.name, slug: cmd.slug, ownerId: cmd.ownerId } },
        { type: 'MemberJoined', data: { organizationId: cmd.organizationId, userId: cmd.ownerId, name: cmd.ownerName, role: 'OWNER' } },
      ];
    }
    case 'AddMember': {
      if (!state.exists) throw notFound('Organization', cmd.organizationId);
      if (state.members[cmd.userId]) {
        if (cmd.ifAlreadyMember === 'skip') return [];
        throw badInput('email', 'This person is already a member of the organization');
      }
      return [{ type: 'MemberJoined', data: { organizationId: cmd.organizationId, userId: cmd.userId, name: cmd.name, role: cmd.role } }];
    }
    case 'ChangeRole': {
      if (!state.exists) throw notFound('Organization', cmd.organizationId);
      const current = state.members[cmd.userId];
      if (!current) throw notFound('Member', cmd.userId);
      if (cmd.actorRole !== 'OWNER' && cmd.actorRole !== 'ADMIN') throw forbidden('Requires role ADMIN or above');
      if ((cmd.role === 'OWNER' || current === 'OWNER') && cmd.actorRole !== 'OWNER') {
        throw forbidden('Only an OWNER can grant or take away the OWNER role');
      }
      if (current === cmd.role) return [];
      if (current === 'OWNER' && ownerCount(state) <= 1) {
        throw badInput('role', 'The last OWNER of an organization cannot be demoted');
      }
      return [
        { type: 'MemberRoleChanged', data: { organizationId: cmd.organizationId, userId: cmd.userId, role: cmd.role, previousRole: current } },
      ];
    }
    case 'RemoveMember': {
      if (!state.exists) throw notFound('Organization', cmd.organizationId);
      if (cmd.actorRole !== 'OWNER' && cmd.actorRole !== 'ADMIN') throw forbidden('Requires role ADMIN or above');
      const current = state.members[cmd.userId];
      if (!current) throw notFound('Member', cmd.userId);
      if (current === 'OWNER' && cmd.actorRole !== 'OWNER') throw forbidden('Only an OWNER can remove an OWNER');
      if (current === 'OWNER' && ownerCount(state) <= 1) {
        throw badInput('userId', 'The last OWNER of an organization cannot be removed');
      }
      return [{ type: 'MemberRemoved', data: { organizationId: cmd.organizationId, userId: cmd.userId } }];
    }
  }
}

export function evolveOrganization(state: OrganizationState, event: OrganizationEvent): OrganizationState {
  switch (event.type) {
    case 'OrganizationCreated':
      return { ...state, exists: true };
    case 'MemberJoined':
      return { ...state, members: { ...state.members, [event.data.userId]: event.data.role } };
    case 'MemberRoleChanged':
      return { ...state, members: { ...state.members, [event.data.userId]: event.data.role } };
    case 'MemberRemoved': {
      const { [event.data.userId]: _removed, ...rest } = state.members;
      return { ...state, members: rest };
    }
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export const ownerCount = (state: OrganizationState) => Object.values(state.members).filter((r) => r === 'OWNER').length;

export const organizationStream = (id: string) => `Organization-${id}`;
/** The Organization aggregate for the event store: a stream holds only OrganizationEvents; anything else leaves the state alone. */
export const organizationAggregate = {
  initial: initialOrganization,
  evolve: (state: OrganizationState, event: IdentityEvent): OrganizationState =>
    isOrganizationEvent(event) ? evolveOrganization(state, event) : state,
};

/** "Acme Corp!" -> "acme-corp"; never empty. */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/g, '');
  return slug || 'org';
}
