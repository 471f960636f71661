import { eventSubject } from '@cos/events';

/** The body of a message on `${prefix}_EVENTS` (the event store's StoredEvent as JSON). */
export interface StoredEvent {
  id: string;
  orgId: string;
  streamId: string;
  streamType: string;
  version: number;
  type: string;
  data: unknown;
  metadata?: unknown;
  /** Commit time (ISO), used for the commit-to-client latency figure. */
  occurredAt?: string;
}

/**
 * How each Subscription field of the supergraph maps onto the event backbone — a typed map keyed by field name.
 *
 * Why a typed map in the gateway and not a composed directive (Cosmo's `@edfs__natsSubscribe` style): the mapping is
 * more than a subject. Each field needs an entity key taken from the event body, a local filter on its arguments, a
 * `kind` derived from the event type, and a lookup that may go through a parent (an Approval is reached through
 * `task(id:) { approvals }`, there is no `approval(id:)` root field). A directive expressing all of that would be a
 * small language of its own, checked nowhere; here it is TypeScript, unit-tested, and checked against every loaded
 * supergraph (`checkAgainstSchema`): a mapped field that the supergraph lacks is never served, and a Subscription
 * field without a mapping answers a clear error instead of hanging. Subject patterns stay relative to
 * `${prefix}.${orgId}.` so the org of the subscriber always scopes the upstream subscription.
 */
export interface SubscriptionFieldSpec {
  /** Subject below `${prefix}.${orgId}.`, built with @cos/events' eventSubject (checked against the event catalog). */
  subject: string;
  /** The entity this event is about, from the event (null: not an event for this field). */
  entityId(event: StoredEvent): string | null;
  /** Local filter on the field's arguments (e.g. `taskId`). */
  matches(event: StoredEvent, args: Record<string, unknown>): boolean;
  /** Root Query field to look the entity up with, called as `<lookup>(id: $id)`. */
  lookup: string;
  /**
   * When set, the entity is an element of a list field of the looked-up parent, picked by its `id`
   * (approvalRequested: `task(id: taskId) { approvals { id ... } }` → the approval with `approvalId`).
   */
  through?: { list: string; childId(event: StoredEvent): string | null };
  /**
   * When set, the field returns a wrapper object (TaskEvent) whose `entityField` holds the entity and whose other
   * fields (`cursor`, `kind`) come from the event; otherwise the field returns the entity itself.
   */
  wrapper?: { typename: string; entityField: string };
}

const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);
const dataOf = (e: StoredEvent): Record<string, unknown> =>
  e.data !== null && typeof e.data === 'object' ? (e.data as Record<string, unknown>) : {};

/** `TaskStatusChanged` → `STATUS_CHANGED`, `CommentAdded` → `COMMENTED`, ... (API.md TaskEvent.kind). */
export function kindOf(eventType: string): string {
  const known: Record<string, string> = {
    TaskCreated: 'CREATED',
    TaskUpdated: 'UPDATED',
    TaskStatusChanged: 'STATUS_CHANGED',
    TaskAssigned: 'ASSIGNED',
    CommentAdded: 'COMMENTED',
    ApprovalRequested: 'APPROVAL_REQUESTED',
    ApprovalDecided: 'APPROVAL_DECIDED',
  };
  const k = known[eventType];
  if (k) return k;
  // Unknown (newer) event types still get a stable kind: strip the aggregate prefix, SCREAMING_SNAKE the rest.
  return eventType
    .replace(/^Task/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase();
}

/** Event types after which a run can be claimed (agentRunQueued). */
const CLAIMABLE = new Set(['AgentRunQueued', 'AgentRunRequeued', 'AgentRunResumed']);

export const SUBSCRIPTION_FIELDS: Readonly<Record<string, SubscriptionFieldSpec>> = {
  // Every tasks event about a task — the Task stream's and the Approval stream's (approvals are their own aggregate,
  // published on `tasks.Approval.*`, and carry their taskId) — so APPROVAL_REQUESTED / APPROVAL_DECIDED reach it.
  taskChanged: {
    subject: eventSubject('tasks'),
    entityId: (e) => str(dataOf(e).taskId),
    matches: (e, args) => args.taskId == null || dataOf(e).taskId === args.taskId,
    lookup: 'task',
    wrapper: { typename: 'TaskEvent', entityField: 'task' },
  },
  approvalRequested: {
    subject: eventSubject('tasks', 'Approval', 'ApprovalRequested'),
    entityId: (e) => str(dataOf(e).taskId),
    matches: (e) => e.type === 'ApprovalRequested',
    lookup: 'task',
    through: { list: 'approvals', childId: (e) => str(dataOf(e).approvalId) },
  },
  customerHealthChanged: {
    subject: eventSubject('customers', 'Customer', 'HealthScoreChanged'),
    entityId: (e) => str(dataOf(e).customerId),
    matches: (e, args) => args.customerId == null || dataOf(e).customerId === args.customerId,
    lookup: 'customer',
  },
  agentRunUpdated: {
    subject: eventSubject('agents', 'AgentRun'),
    entityId: (e) => str(dataOf(e).runId),
    matches: (e, args) => args.runId == null || dataOf(e).runId === args.runId,
    lookup: 'agentRun',
  },
  // Wakes workers: a run of their kinds became claimable. Events of earlier versions carry no agentKind: every
  // worker is woken (its claim filters by kind anyway).
  agentRunQueued: {
    subject: eventSubject('agents', 'AgentRun'),
    entityId: (e) => str(dataOf(e).runId),
    matches: (e, args) => {
      if (!CLAIMABLE.has(e.type)) return false;
      const kinds = Array.isArray(args.kinds) ? (args.kinds as unknown[]) : null;
      const kind = dataOf(e).agentKind;
      return kinds === null || kinds.length === 0 || kind === undefined || kinds.includes(kind);
    },
    lookup: 'agentRun',
  },
};
