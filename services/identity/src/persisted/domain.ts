import { isStreamEvent, type IdentityEvent, type StreamEventType } from '@cos/events';
import type { ManifestOperation } from '@cos/persisted';

/** PersistedClient aggregate (stream `PersistedClient-<orgId>-<client>`): the ids registered for one client. */
export interface PersistedClientState {
  ids: ReadonlySet<string>;
}
export const initialPersistedClient: PersistedClientState = { ids: new Set() };

export interface PublishCommand {
  type: 'PublishPersistedOperations';
  client: string;
  /** Already validated against the current supergraph. */
  operations: readonly ManifestOperation[];
}

export interface RevokeCommand {
  type: 'RevokePersistedOperations';
  client: string;
  ids: readonly string[];
}

/** The events of a PersistedClient stream (EVENT_CATALOG.identity.PersistedClient); `evolvePersistedClient` handles each one. */
export type PersistedClientEvent = Extract<IdentityEvent, { type: StreamEventType<'identity', 'PersistedClient'> }>;
export const isPersistedClientEvent = isStreamEvent('identity', 'PersistedClient');

/**
 * Publish registers what is new (documents are content-addressed, so re-publishing the same manifest is a no-op).
 * Revoke withdraws registered ids (an id not registered for this client is a no-op; the command layer reports it);
 * a revoked document may be published again later.
 */
export function decidePersistedClient(cmd: PublishCommand | RevokeCommand, state: PersistedClientState): PersistedClientEvent[] {
  if (cmd.type === 'RevokePersistedOperations') {
    const ids = [...new Set(cmd.ids)].filter((id) => state.ids.has(id));
    return ids.length ? [{ type: 'PersistedOperationsRevoked', data: { client: cmd.client, ids } }] : [];
  }
  const seen = new Set(state.ids);
  const fresh: ManifestOperation[] = [];
  for (const op of cmd.operations) {
    if (seen.has(op.id)) continue;
    seen.add(op.id);
    fresh.push({ id: op.id, name: op.name, type: op.type, body: op.body });
  }
  if (fresh.length === 0) return [];
  return [{ type: 'PersistedOperationsPublished', data: { client: cmd.client, operations: fresh } }];
}

export function evolvePersistedClient(state: PersistedClientState, e: PersistedClientEvent): PersistedClientState {
  switch (e.type) {
    case 'PersistedOperationsPublished':
      return { ids: new Set([...state.ids, ...e.data.operations.map((o) => o.id)]) };
    case 'PersistedOperationsRevoked': {
      const ids = new Set(state.ids);
      for (const id of e.data.ids) ids.delete(id);
      return { ids };
    }
    default: {
      const unhandled: never = e;
      return unhandled;
    }
  }
}

export const persistedClientStream = (orgId: string, client: string) => `PersistedClient-${orgId}-${client}`;
/** The PersistedClient aggregate for the event store: a stream holds only PersistedClientEvents; anything else leaves the state alone. */
export const persistedClientAggregate = {
  initial: initialPersistedClient,
  evolve: (state: PersistedClientState, event: IdentityEvent): PersistedClientState =>
    isPersistedClientEvent(event) ? evolvePersistedClient(state, event) : state,
};
