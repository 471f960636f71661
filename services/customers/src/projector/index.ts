/**
 * What `pnpm rebuild customers` needs: the read-model tables to truncate and the event store whose projector
 * replays every event into them.
 */
import { createEventStore } from '@cos/event-store';
import type { CustomerEvent } from '@cos/events';
import { customersPii } from '../store/pii';
import { projectCustomerEvent } from './customer-projector';

/** The NOTIFY channel the outbox relay listens on. */
export const NOTIFY_CHANNEL = 'customers_events';

export const READ_MODEL_TABLES = ['customers', 'contacts', 'signals', 'health_scores', 'connections'] as const;

export const eventStore = createEventStore<CustomerEvent>({
  notifyChannel: NOTIFY_CHANNEL,
  project: projectCustomerEvent,
  codec: customersPii,
});
