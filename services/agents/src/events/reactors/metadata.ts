import type { EventMetadata, StoredEvent } from '@cos/event-store';
import { SERVICE_ACTOR } from '../subjects';

/** Metadata of an event emitted in reaction to `incoming`: same correlation, caused by it. */
export const reactionMetadata = (incoming: StoredEvent): EventMetadata => ({
  actor: SERVICE_ACTOR,
  correlationId: incoming.metadata?.correlationId ?? incoming.id,
  causationId: incoming.id,
  traceparent: incoming.metadata?.traceparent ?? null,
});
