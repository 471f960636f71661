/**
 * The GraphQL client: urql over HTTP for queries and mutations (trusted documents by id, JWT with refresh through
 * @urql/exchange-auth), and graphql-ws for live feeds that resume after a reconnect from the last event's cursor.
 */
import { authExchange } from '@urql/exchange-auth';
import { persistedExchange } from '@urql/exchange-persisted';
import { Client, cacheExchange, fetchExchange, type CombinedError } from 'urql';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { documentIdOf, persistedExtensions } from './documents';
import type { SessionStore } from './session';

export function createGraphqlClient(httpUrl: string, session: SessionStore): Client {
  return new Client({
    url: httpUrl,
    requestPolicy: 'cache-and-network',
    exchanges: [
      cacheExchange,
      authExchange(async (utils) => ({
        addAuthToOperation(op) {
          const s = session.get();
          return s ? utils.appendHeaders(op, { authorization: `Bearer ${s.accessToken}` }) : op;
        },
        willAuthError: () => session.expiresSoon(),
        didAuthError: (error: CombinedError) =>
          error.response?.status === 401 || error.graphQLErrors.some((e) => e.extensions?.code === 'UNAUTHENTICATED'),
        async refreshAuth() {
          await session.fresh(true);
        },
      })),
      // Only ids go over the wire; an id the gateway does not know is a deploy mismatch, not something to register.
      persistedExchange({
        enforcePersistedQueries: true,
        enableForMutation: true,
        generateHash: async (_query, document) => documentIdOf(document),
      }),
      fetchExchange,
    ],
  });
}

export function createLiveClient(wsUrl: string, session: SessionStore): WsClient {
  return createWsClient({
    url: wsUrl,
    lazy: true,
    // Keep the socket a moment after the last subscription ends: a page (or React's StrictMode in development)
    // that unsubscribes and subscribes again in one go reuses it instead of racing a close against a reconnect.
    lazyCloseTimeout: 3_000,
    // Evaluated at every (re)connect, so a reconnect after the access token expired presents a fresh one.
    connectionParams: async () => {
      const s = await session.fresh();
      return s ? { authorization: `Bearer ${s.accessToken}` } : {};
    },
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
  });
}

export interface LiveEvent {
  cursor?: string;
}

/**
 * Subscribes to a persisted subscription and keeps `variables.after` at the last event's cursor. graphql-ws re-sends
 * the same payload object when it reconnects, so the server replays what was missed since that cursor. A subscription
 * graphql-ws ends with an error (a fatal close, a refused connection while the token was being refreshed) is started
 * again with the same payload after a bounded, growing delay: a live feed never silently stops.
 */
export function subscribeLive<TData, TVars extends { after?: string | null }>(
  ws: WsClient,
  doc: TypedDocumentNode<TData, TVars>,
  variables: TVars,
  cursorOf: (data: TData) => string | undefined,
  onData: (data: TData) => void,
  onError?: (message: string) => void,
): () => void {
  const payload = { query: '', variables: { ...variables } as TVars, extensions: persistedExtensions(doc) };
  let stopped = false;
  let failures = 0;
  let unsubscribe: () => void = () => undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const start = () => {
    unsubscribe = ws.subscribe<TData>(payload, {
      next: (r) => {
        if (r.errors?.length) onError?.(r.errors.map((e) => e.message).join('; '));
        if (!r.data) return;
        failures = 0;
        const cursor = cursorOf(r.data);
        if (cursor) payload.variables.after = cursor;
        onData(r.data);
      },
      error: (err) => {
        onError?.(err instanceof Error ? err.message : 'live updates interrupted');
        if (stopped) return;
        failures += 1;
        timer = setTimeout(start, Math.min(30_000, 500 * 2 ** failures));
      },
      complete: () => undefined,
    });
  };
  start();
  return () => {
    stopped = true;
    clearTimeout(timer);
    unsubscribe();
  };
}

/**
 * Refetch options after a live event or a CONFLICT: straight from the graph, past the gateway's response cache (the
 * event may reach the browser before it reaches the cache's invalidation).
 */
export const FRESH = { requestPolicy: 'network-only', fetchOptions: { headers: { 'cache-control': 'no-cache' } } } as const;

/** The contract's error code of a failed operation (first one), if any. */
export const errorCode = (e: CombinedError | undefined): string | undefined =>
  e?.graphQLErrors[0]?.extensions?.code as string | undefined;

export const errorText = (e: CombinedError | undefined): string | undefined =>
  e ? e.graphQLErrors.map((g) => g.message).join('; ') || e.message : undefined;
