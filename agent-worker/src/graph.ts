import { readFileSync } from 'node:fs';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { Logger } from '@cos/logger';

/**
 * The worker's only way to the system: the public graph, through the gateway, with its service account's key. Every
 * operation it sends is a trusted document of the `agent-worker` manifest (schema/persisted/agent-worker.json), named
 * by its hash, so it also works where the gateway runs first-party callers in safelist mode.
 */

export const DEFAULT_MANIFEST = new URL('../../schema/persisted/agent-worker.json', import.meta.url);

interface Manifest {
  operations: Array<{ id: string; name: string; type: string; body: string }>;
}

/** An error the graph answered (its `extensions.code` from the public contract), or a transport failure. */
export class GraphError extends Error {
  constructor(
    message: string,
    readonly code: string,
    /** true for failures worth retrying (no answer, 5xx, 429). */
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'GraphError';
  }
}

export interface GraphClientOptions {
  url: string;
  apiKey: string;
  timeoutMs: number;
  log: Logger;
  manifest?: URL | string;
}

export function createGraphClient(opts: GraphClientOptions) {
  const manifest = JSON.parse(readFileSync(opts.manifest ?? DEFAULT_MANIFEST, 'utf8')) as Manifest;
  const ids = new Map(manifest.operations.map((o) => [o.name, o.id]));
  const idOf = (name: string) => {
    const id = ids.get(name);
    if (!id) throw new Error(`operation ${name} is not in the agent-worker manifest`);
    return id;
  };
  const authorization = `ApiKey ${opts.apiKey}`;

  /** Runs one operation of the manifest; throws GraphError when the answer carries errors (the first one). */
  async function request<T>(name: string, variables: Record<string, unknown>): Promise<T> {
    let res: Response;
    try {
      res = await fetch(opts.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', authorization },
        body: JSON.stringify({ documentId: `sha256:${idOf(name)}`, operationName: name, variables }),
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
    } catch (err) {
      throw new GraphError(`${name}: no answer from the gateway (${(err as Error).message})`, 'UNAVAILABLE', true);
    }
    let body: { data?: T | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw new GraphError(`${name}: HTTP ${res.status} without a GraphQL answer`, 'UNAVAILABLE', res.status >= 500 || res.status === 429);
    }
    const first = body.errors?.[0];
    if (first) {
      const code = first.extensions?.code ?? 'INTERNAL_SERVER_ERROR';
      const transient = res.status >= 500 || code === 'RATE_LIMITED' || code === 'INTERNAL_SERVER_ERROR' || /unavailable/i.test(first.message);
      throw new GraphError(`${name}: ${first.message}`, code, transient);
    }
    if (!body.data) throw new GraphError(`${name}: empty answer (HTTP ${res.status})`, 'INTERNAL_SERVER_ERROR', true);
    return body.data;
  }

  let ws: Client | null = null;
  /**
   * Subscribes to a manifest subscription over graphql-ws; the socket reconnects forever with backoff, and a
   * subscription the gateway ended (an error, a drain) is taken again after `resubscribeMs`. Returns unsubscribe.
   */
  function subscribe(name: string, variables: Record<string, unknown>, onEvent: (data: unknown) => void, resubscribeMs = 5_000): () => void {
    let stopped = false;
    let current: (() => void) | null = null;
    let timer: NodeJS.Timeout | undefined;
    const again = () => {
      if (stopped) return;
      timer = setTimeout(() => {
        current = open(name, variables, onEvent, again);
      }, resubscribeMs);
      timer.unref();
    };
    current = open(name, variables, onEvent, again);
    return () => {
      stopped = true;
      clearTimeout(timer);
      current?.();
    };
  }

  function open(name: string, variables: Record<string, unknown>, onEvent: (data: unknown) => void, onEnd: () => void): () => void {
    ws ??= createClient({
      url: opts.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization },
      lazy: false,
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: () => true,
      on: {
        connected: () => opts.log.info('subscribed to the graph (graphql-ws)'),
        closed: (e) => opts.log.warn({ code: (e as { code?: number })?.code }, 'graph subscription socket closed; reconnecting'),
      },
    });
    return ws.subscribe(
      { query: '', variables, operationName: name, extensions: { persistedQuery: { version: 1, sha256Hash: idOf(name) } } },
      {
        next: (result) => onEvent(result.data ?? null),
        error: (err) => {
          opts.log.warn({ err }, `${name} subscription ended with an error; taking it again shortly`);
          onEnd();
        },
        complete: () => onEnd(),
      },
    );
  }

  return {
    request,
    subscribe,
    async close() {
      await ws?.dispose();
      ws = null;
    },
  };
}

export type GraphClient = ReturnType<typeof createGraphClient>;
