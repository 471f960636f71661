/**
 * Where each event travels: `<prefix>.<orgId>.<service>.<streamType>.<EventType>`. The catalog below names, per
 * service, its stream types (aggregates) and the event types each carries; publishers take their stream types from
 * it and subscribers build subject patterns with `eventSubject` — so a subscriber listening on a stream the event is
 * not published on (`tasks.Task.ApprovalRequested`, when approvals are their own `Approval` stream) is a type error,
 * and an event type missing from the catalog fails to compile here.
 */
import type { AgentEvent, CustomerEvent, IdentityEvent, TaskEvent } from './index';

export interface ServiceEvents {
  identity: IdentityEvent;
  tasks: TaskEvent;
  customers: CustomerEvent;
  agents: AgentEvent;
}
export type ServiceName = keyof ServiceEvents;
type TypesOf<U> = U extends { type: infer T extends string } ? T : never;
export type EventTypeOf<S extends ServiceName> = TypesOf<ServiceEvents[S]>;

export const EVENT_CATALOG = {
  identity: {
    Organization: ['OrganizationCreated', 'MemberJoined', 'MemberRoleChanged', 'MemberRemoved'],
    User: ['UserRegistered', 'UserLoggedIn', 'UserErased', 'NotificationPreferencesChanged'],
    Invitation: ['InvitationCreated', 'InvitationAccepted'],
    ApiKey: ['ApiKeyCreated', 'ApiKeyRevoked'],
    LoginAttempt: ['LoginFailed'],
    Session: ['RefreshTokenReused'],
    PersistedClient: ['PersistedOperationsPublished', 'PersistedOperationsRevoked'],
  },
  tasks: {
    Task: ['TaskCreated', 'TaskUpdated', 'TaskStatusChanged', 'TaskAssigned', 'CommentAdded', 'AttachmentAdded', 'AttachmentRemoved'],
    Approval: ['ApprovalRequested', 'ApprovalDecided'],
  },
  customers: {
    Customer: ['CustomerCreated', 'SignalRecorded', 'HealthScoreChanged', 'ChurnRiskFlagged', 'ChurnRiskCleared', 'CustomerContactErased'],
    Connection: ['ConnectionCreated', 'ConnectionSecretRotated', 'ConnectionDeleted'],
  },
  agents: {
    Agent: ['AgentCreated'],
    AgentRun: [
      'AgentRunQueued',
      'AgentRunStarted',
      'AgentRunCheckpointed',
      'AgentRunApprovalRequested',
      'AgentRunResumed',
      'AgentRunRequeued',
      'AgentRunSucceeded',
      'AgentRunFailed',
      'AgentRunCancelled',
    ],
  },
} as const satisfies { [S in ServiceName]: Record<string, readonly EventTypeOf<S>[]> };

type Catalog = typeof EVENT_CATALOG;
export type StreamTypeOf<S extends ServiceName> = keyof Catalog[S] & string;
export type StreamEventType<S extends ServiceName, A extends StreamTypeOf<S>> = Catalog[S][A] extends readonly (infer T)[] ? T : never;

// Every event type of a service's union is on one of its streams (compile-time check).
type Catalogued<S extends ServiceName> = { [A in StreamTypeOf<S>]: StreamEventType<S, A> }[StreamTypeOf<S>];
type Uncatalogued = { [S in ServiceName]: Exclude<EventTypeOf<S>, Catalogued<S>> }[ServiceName];
const everyEventCatalogued: [Uncatalogued] extends [never] ? true : Uncatalogued = true;
void everyEventCatalogued;

/** A stream type of `service`, checked against the catalog (publishers: `streamType: streamTypeOf('tasks', 'Approval')`). */
export const streamTypeOf = <S extends ServiceName, A extends StreamTypeOf<S>>(_service: S, streamType: A): A => streamType;

/**
 * The type guard of a stream's events, from the catalog: `isStreamEvent('identity', 'User')(e)` narrows a service's
 * event union to the User stream's members (an aggregate's evolve then switches over exactly those).
 */
export function isStreamEvent<S extends ServiceName, A extends StreamTypeOf<S>>(service: S, streamType: A) {
  const types = EVENT_CATALOG[service][streamType] as readonly string[];
  return <E extends { type: string }>(e: E): e is Extract<E, { type: StreamEventType<S, A> }> => types.includes(e.type);
}

/**
 * A subject pattern below `<prefix>.<orgId>.`: a service's events (`tasks.>`), a stream's (`tasks.Approval.>`) or one
 * event type (`tasks.Approval.ApprovalRequested`).
 */
export function eventSubject<S extends ServiceName>(service: S): `${S}.>`;
export function eventSubject<S extends ServiceName, A extends StreamTypeOf<S>>(service: S, streamType: A): `${S}.${A}.>`;
export function eventSubject<S extends ServiceName, A extends StreamTypeOf<S>, T extends StreamEventType<S, A> & string>(
  service: S,
  streamType: A,
  type: T,
): `${S}.${A}.${T}`;
export function eventSubject(service: string, streamType?: string, type?: string): string {
  return [service, streamType ?? '>', ...(streamType ? [type ?? '>'] : [])].join('.');
}

/** The stream type that carries `type` in `service` (null: not one of its events). */
export function streamOfEvent(service: ServiceName, type: string): string | null {
  for (const [stream, types] of Object.entries(EVENT_CATALOG[service])) if ((types as readonly string[]).includes(type)) return stream;
  return null;
}
