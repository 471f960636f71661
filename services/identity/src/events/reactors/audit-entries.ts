import type { Tx } from '@cos/db';
import type { StoredEvent } from '@cos/event-store';
import { insertAuditEntry } from '../../store/identity-store';

/** The services whose events identity records in the audit log through the bus (its own are projected in-process). */
export const AUDITED_SERVICES = ['tasks', 'customers', 'agents'] as const;
export type AuditedService = (typeof AUDITED_SERVICES)[number];

/**
 * Audit reactor for one source service: every event it publishes (each is a mutation or a reaction to one)
 * becomes an audit entry in the event's organization: actor from metadata.actor, action = event type,
 * target = stream id (`Task-<id>`, `Customer-<id>`, `AgentRun-<id>`), correlation id. Runs in the consumer's
 * transaction with the tenant set to the event's organization; the inbox and the event-id key keep it single.
 */
export const auditReactor =
  (service: AuditedService) =>
  async (tx: Tx, event: StoredEvent): Promise<void> => {
    await insertAuditEntry(tx, service, event);
  };
