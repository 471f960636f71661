/**
 * The Connection aggregate: a provider an organization's customer signals arrive from. Pure: decide(command, state)
 * → events, evolve(state, event) → state. Credentials are not part of the state or the events (only their hints).
 */
import { notFound } from '@cos/errors';
import { isStreamEvent, streamTypeOf, type StreamEventType, type ConnectionConfig, type ConnectionProvider, type CustomerEvent, type SecretHint } from '@cos/events';

export const CONNECTION_STREAM_TYPE = streamTypeOf('customers', 'Connection');
export const connectionStreamIdOf = (connectionId: string) => `${CONNECTION_STREAM_TYPE}-${connectionId}`;

export const CONNECTION_PROVIDERS = ['SUPPORT_ZENDESK', 'SUPPORT_INTERCOM', 'USAGE_SEGMENT', 'USAGE_MIXPANEL', 'BILLING_STRIPE'] as const satisfies readonly ConnectionProvider[];

/** The path segment of `POST /webhooks/<provider>/<connectionId>` per provider. */
export const WEBHOOK_PATH_OF: Record<ConnectionProvider, string> = {
  SUPPORT_ZENDESK: 'zendesk',
  SUPPORT_INTERCOM: 'intercom',
  USAGE_SEGMENT: 'segment',
  USAGE_MIXPANEL: 'mixpanel',
  BILLING_STRIPE: 'stripe',
};

/** Providers whose API the connector pulls (the others are webhook-only). */
export const PULL_PROVIDERS: ReadonlySet<ConnectionProvider> = new Set(['SUPPORT_ZENDESK', 'BILLING_STRIPE']);

export interface ConnectionState {
  exists: boolean;
  deleted: boolean;
  provider: ConnectionProvider | null;
}

export const initialConnectionState: ConnectionState = { exists: false, deleted: false, provider: null };

export type ConnectionCommand =
  | {
      type: 'CreateConnection';
      connectionId: string;
      provider: ConnectionProvider;
      name: string;
      config: ConnectionConfig;
      webhookSecretHint: SecretHint;
      apiTokenHint: SecretHint | null;
    }
  | { type: 'RotateSecret'; connectionId: string; secret: 'WEBHOOK_SECRET' | 'API_TOKEN'; hint: SecretHint }
  | { type: 'DeleteConnection'; connectionId: string };

/** The events of a Connection stream; `evolveConnection` handles each one (a member it misses is a type error). */
export type ConnectionEvent = Extract<CustomerEvent, { type: StreamEventType<'customers', 'Connection'> }>;
export const isConnectionEvent = isStreamEvent('customers', 'Connection');

export function decideConnection(command: ConnectionCommand, state: ConnectionState): ConnectionEvent[] {
  switch (command.type) {
    case 'CreateConnection': {
      const { type: _t, ...data } = command;
      return [{ type: 'ConnectionCreated', data }];
    }
    case 'RotateSecret':
      if (!state.exists || state.deleted) throw notFound('Connection', command.connectionId);
      return [{ type: 'ConnectionSecretRotated', data: { connectionId: command.connectionId, secret: command.secret, hint: command.hint } }];
    case 'DeleteConnection':
      if (!state.exists || state.deleted) throw notFound('Connection', command.connectionId);
      return [{ type: 'ConnectionDeleted', data: { connectionId: command.connectionId } }];
  }
}

export function evolveConnection(state: ConnectionState, event: ConnectionEvent): ConnectionState {
  switch (event.type) {
    case 'ConnectionCreated':
      return { exists: true, deleted: false, provider: event.data.provider };
    case 'ConnectionSecretRotated':
      // Secrets live beside the stream (connection_secrets), not in the state.
      return state;
    case 'ConnectionDeleted':
      return { ...state, deleted: true };
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

/** The Connection aggregate for the event store: a stream holds only ConnectionEvents; anything else leaves the state alone. */
export const connectionAggregate = {
  initial: initialConnectionState,
  evolve: (state: ConnectionState, event: CustomerEvent): ConnectionState => (isConnectionEvent(event) ? evolveConnection(state, event) : state),
};
