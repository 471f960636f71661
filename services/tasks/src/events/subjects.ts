import { eventSubject } from '@cos/events';
import type { EventMetadata, StoredEvent } from '@cos/event-store';

/** What the tasks service consumes: one filter subject per consumer (NATS 2.9 has no multi-filter consumers). */
export const consumedSubjects = (prefix: string) => ({
  identity: `${prefix}.*.${eventSubject('identity')}`,
  agents: `${prefix}.*.${eventSubject('agents')}`,
  customers: `${prefix}.*.${eventSubject('customers')}`,
});

/** Metadata for an event the service appends in reaction to another (actor service:tasks, causation = incoming). */
export function reactionMetadata(incoming: StoredEvent): EventMetadata {
  return {
    actor: 'service:tasks',
    correlationId: incoming.metadata?.correlationId ?? incoming.id,
    causationId: incoming.id,
    traceparent: incoming.metadata?.traceparent ?? null,
  };
}
