import { isScope } from '@cos/auth';
import { isStreamEvent, type IdentityEvent, type StreamEventType } from '@cos/events';
import { badInput, notFound } from '@cos/errors';

/** ApiKey aggregate (stream `ApiKey-<id>`): a partner key, scoped to a subset of its creator's scopes. */
export interface ApiKeyState {
  exists: boolean;
  revoked: boolean;
}

export const initialApiKey: ApiKeyState = { exists: false, revoked: false };

export type ApiKeyCommand =
  | { type: 'CreateApiKey'; apiKeyId: string; name: string; scopes: string[]; prefix: string; callerScopes: readonly string[] }
  | { type: 'RevokeApiKey'; apiKeyId: string }
  /**
   * A service account for agent workers: agents:work plus, optionally, read scopes for the tools its model calls
   * through the graph (SERVICE_ACCOUNT_READ_SCOPES), whatever its creator holds; never a write scope a member holds.
   */
  | { type: 'CreateServiceAccount'; apiKeyId: string; name: string; prefix: string; readScopes?: readonly string[] };

/** What a service account may do: act as an agent worker, nothing a member does. */
export const SERVICE_ACCOUNT_SCOPES = ['agents:work'] as const;
/**
 * Read scopes a service account may also hold, so its model's tools can read the task, the customer and earlier
 * runs. Writes go through the worker protocol (checkpoints, approvals), never through member mutations.
 */
export const SERVICE_ACCOUNT_READ_SCOPES = ['org:read', 'tasks:read', 'customers:read', 'agents:read'] as const;

/** The events of an ApiKey stream (EVENT_CATALOG.identity.ApiKey); `evolveApiKey` handles each one. */
export type ApiKeyEvent = Extract<IdentityEvent, { type: StreamEventType<'identity', 'ApiKey'> }>;
export const isApiKeyEvent = isStreamEvent('identity', 'ApiKey');

export function decideApiKey(cmd: ApiKeyCommand, state: ApiKeyState): ApiKeyEvent[] {
  switch (cmd.type) {
    case 'CreateApiKey': {
      if (state.exists) throw badInput('id', 'API key already exists');
      if (cmd.scopes.length === 0) throw badInput('scopes', 'An API key needs at least one scope');
      const unknown = cmd.scopes.filter((s) => !isScope(s));
      if (unknown.length) throw badInput('scopes', `Unknown scopes: ${unknown.join(', ')}`);
      // Erasing people is an OWNER's own act, never delegated to a partner key.
      if (cmd.scopes.includes('privacy:erase')) throw badInput('scopes', 'privacy:erase cannot be granted to an API key');
      const beyond = cmd.scopes.filter((s) => !cmd.callerScopes.includes(s));
      if (beyond.length) throw badInput('scopes', `You cannot grant scopes you do not hold: ${beyond.join(', ')}`);
      const scopes = [...new Set(cmd.scopes)].sort();
      return [{ type: 'ApiKeyCreated', data: { apiKeyId: cmd.apiKeyId, name: cmd.name, scopes, prefix: cmd.prefix } }];
    }
    case 'CreateServiceAccount': {
      if (state.exists) throw badInput('id', 'API key already exists');
      const extra = cmd.readScopes ?? [];
      const refused = extra.filter((s) => !(SERVICE_ACCOUNT_READ_SCOPES as readonly string[]).includes(s));
      if (refused.length) {
        throw badInput('scopes', `A service account holds agents:work and may add only ${SERVICE_ACCOUNT_READ_SCOPES.join(', ')}; not ${refused.join(', ')}`);
      }
      const scopes = [...new Set([...SERVICE_ACCOUNT_SCOPES, ...extra])].sort();
      return [{ type: 'ApiKeyCreated', data: { apiKeyId: cmd.apiKeyId, name: cmd.name, scopes, prefix: cmd.prefix, kind: 'service' } }];
    }
    case 'RevokeApiKey':
      if (!state.exists) throw notFound('ApiKey', cmd.apiKeyId);
      if (state.revoked) return [];
      return [{ type: 'ApiKeyRevoked', data: { apiKeyId: cmd.apiKeyId } }];
  }
}

export function evolveApiKey(state: ApiKeyState, event: ApiKeyEvent): ApiKeyState {
  switch (event.type) {
    case 'ApiKeyCreated':
      return { exists: true, revoked: false };
    case 'ApiKeyRevoked':
      return { ...state, revoked: true };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export const apiKeyStream = (id: string) => `ApiKey-${id}`;
/** The ApiKey aggregate for the event store: a stream holds only ApiKeyEvents; anything else leaves the state alone. */
export const apiKeyAggregate = {
  initial: initialApiKey,
  evolve: (state: ApiKeyState, event: IdentityEvent): ApiKeyState => (isApiKeyEvent(event) ? evolveApiKey(state, event) : state),
};
