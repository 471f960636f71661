import type { Tx } from '@cos/db';
import type { StoredEvent, StoredOf } from '@cos/event-store';
import type { IdentityEvent } from '@cos/events';
import type { Logger } from '@cos/logger';
import { ensureOrgAgents } from '../../commands/agent-commands';
import { reactionMetadata } from './metadata';

/** Consumer name (durable `agents-identity`). */
export const IDENTITY_CONSUMER = 'identity';

/**
 * Reaction: OrganizationCreated -> the organization's seven specialists (AgentCreated x 7), once. Runs in the
 * consumer's transaction with the inbox insert (system role).
 */
export function createIdentityReactor(deps: { log: Logger }) {
  return async function handleIdentityEvent(tx: Tx, raw: StoredEvent): Promise<void> {
    const event = raw as StoredOf<IdentityEvent>;
    if (event.type !== 'OrganizationCreated') return;
    const orgId = event.data.organizationId ?? event.orgId;
    const created = await ensureOrgAgents(tx, orgId, reactionMetadata(event));
    deps.log.info({ orgId, created, causationId: event.id }, 'organization agents ensured');
  };
}
