import { isStreamEvent, type IdentityEvent, type Role, type StreamEventType } from '@cos/events';
import { badInput } from '@cos/errors';

/** Invitation aggregate (stream `Invitation-<id>`): pending until accepted once, before it expires. */
export interface InvitationState {
  status: 'none' | 'pending' | 'accepted';
  expiresAt: string | null;
  userId: string | null;
  role: Role | null;
}

export const initialInvitation: InvitationState = { status: 'none', expiresAt: null, userId: null, role: null };

export type InvitationCommand =
  | { type: 'CreateInvitation'; invitationId: string; userId: string; email: string; name: string; role: Role; tokenHash: string; expiresAt: Date; acceptUrl?: string }
  | { type: 'AcceptInvitation'; invitationId: string; userId: string; now: Date };

const invalid = () => badInput('token', 'This invitation is invalid or has expired');

/** The events of an Invitation stream (EVENT_CATALOG.identity.Invitation); `evolveInvitation` handles each one. */
export type InvitationEvent = Extract<IdentityEvent, { type: StreamEventType<'identity', 'Invitation'> }>;
export const isInvitationEvent = isStreamEvent('identity', 'Invitation');

export function decideInvitation(cmd: InvitationCommand, state: InvitationState): InvitationEvent[] {
  switch (cmd.type) {
    case 'CreateInvitation':
      if (state.status !== 'none') throw badInput('email', 'Invitation already exists');
      return [
        {
          type: 'InvitationCreated',
          data: {
            invitationId: cmd.invitationId,
            userId: cmd.userId,
            email: cmd.email,
            name: cmd.name,
            role: cmd.role,
            tokenHash: cmd.tokenHash,
            expiresAt: cmd.expiresAt.toISOString(),
            ...(cmd.acceptUrl ? { acceptUrl: cmd.acceptUrl } : {}),
          },
        },
      ];
    case 'AcceptInvitation':
      if (state.status !== 'pending' || state.userId !== cmd.userId) throw invalid();
      if (!state.expiresAt || Date.parse(state.expiresAt) <= cmd.now.getTime()) throw invalid();
      return [{ type: 'InvitationAccepted', data: { invitationId: cmd.invitationId, userId: cmd.userId } }];
  }
}

export function evolveInvitation(state: InvitationState, event: InvitationEvent): InvitationState {
  switch (event.type) {
    case 'InvitationCreated':
      return { status: 'pending', expiresAt: event.data.expiresAt, userId: event.data.userId ?? null, role: event.data.role };
    case 'InvitationAccepted':
      return { ...state, status: 'accepted' };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export const invitationStream = (id: string) => `Invitation-${id}`;
/** The Invitation aggregate for the event store: a stream holds only InvitationEvents; anything else leaves the state alone. */
export const invitationAggregate = {
  initial: initialInvitation,
  evolve: (state: InvitationState, event: IdentityEvent): InvitationState => (isInvitationEvent(event) ? evolveInvitation(state, event) : state),
};
