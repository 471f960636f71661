import { isScope } from '@cos/auth';
import type { IdentityEvent } from '@cos/events';
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
  /** A service account for agent workers: exactly SERVICE_ACCOUNT_SCOPES, whatever its creator holds. */
  | { type: 'CreateServiceAccount'; apiKeyId: string; name: string; prefix: string };

/** What a service account may do: act as an agent worker, nothing a member does. */
export const SERVICE_ACCOUNT_SCOPES = ['agents:work'] as const;

export function decideApiKey(cmd: ApiKeyCommand, state: ApiKeyState): IdentityEvent[] {
  switch (cmd.type) {
    case 'CreateApiKey': {
      if (state.exists) throw badInput('id', 'API key already exists');
      if (cmd.scopes.length === 0) throw badInput('scopes', 'An API key needs at least one scope');
      const unknown = cmd.scopes.filter((s) => !isScope(s));
      if (unknown.length) throw badInput('scopes', `Unknown scopes: ${unknown.join(', ')}`);
      const beyond = cmd.scopes.filter((s) => !cmd.callerScopes.includes(s));
      if (beyond.length) throw badInput('scopes', `You cannot grant scopes you do not hold: ${beyond.join(', ')}`);
      const scopes = [...new Set(cmd.scopes)].sort();
      return [{ type: 'ApiKeyCreated', data: { apiKeyId: cmd.apiKeyId, name: cmd.name, scopes, prefix: cmd.prefix } }];
    }
    case 'CreateServiceAccount':
      if (state.exists) throw badInput('id', 'API key already exists');
      return [
        {
          type: 'ApiKeyCreated',
          data: { apiKeyId: cmd.apiKeyId, name: cmd.name, scopes: [...SERVICE_ACCOUNT_SCOPES], prefix: cmd.prefix, kind: 'service' },
        },
      ];
    case 'RevokeApiKey':
      if (!state.exists) throw notFound('ApiKey', cmd.apiKeyId);
      if (state.revoked) return [];
      return [{ type: 'ApiKeyRevoked', data: { apiKeyId: cmd.apiKeyId } }];
  }
}

export function evolveApiKey(state: ApiKeyState, event: IdentityEvent): ApiKeyState {
  switch (event.type) {
    case 'ApiKeyCreated':
      return { exists: true, revoked: false };
    case 'ApiKeyRevoked':
      return { ...state, revoked: true };
    default:
      return state;
  }
}

export const apiKeyStream = (id: string) => `ApiKey-${id}`;
export const apiKeyAggregate = { initial: initialApiKey, evolve: evolveApiKey };
