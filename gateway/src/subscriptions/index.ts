import { serviceUnavailable } from '@cos/errors';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { GraphQLError, parse, validate, type DocumentNode, type ExecutionArgs, type GraphQLSchema } from 'graphql';
import { createHandler as createSseHandler } from 'graphql-sse/lib/use/http';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Principal } from '@cos/auth';
import type { Bus } from '@cos/bus';
import type { Logger } from '@cos/logger';
import { AuthenticationError, type Authentication } from '../core/authenticate';
import type { TokenRevocations } from '../auth/token-revocations';
import type { Gateway } from '../server';
import { ViewerDependenceCache } from '../authz/viewer-dependent';
import { SubscriptionEngine, type Connection, type EngineLimits, type EngineObserver, type LookupExecutor } from './engine';
import { lookupDocument } from './shape';
import type { SubscriptionQuota } from './quota';
import { Upstream } from './upstream';
import { persistedIdOf } from '../persisted/usePersisted';

export { SubscriptionEngine } from './engine';
export { SUBSCRIPTION_FIELDS, kindOf } from './fields';

export const WS_PATH = '/graphql';
export const SSE_STREAM_PATH = '/graphql/stream';

/** Close codes (graphql-transport-ws uses 44xx for its own; 1012/1013 are the standard "come back" codes). */
export const CloseCode = {
  Unauthorized: 4401,
  Forbidden: 4403,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
} as const;

export interface SubscriptionBridgeOptions {
  gateway: Pick<Gateway, 'apollo' | 'authenticate' | 'execute' | 'resolvePersisted' | 'subscriptionDenials'>;
  /** The gateway's NATS link (events/bus.ts): subscriptions answer SERVICE_UNAVAILABLE while it is down. */
  bus: { readonly bus: Bus | undefined; readonly up: boolean };
  /** Subject prefix of the domain events. */
  subjectPrefix: string;
  log: Logger;
  limits?: Partial<EngineLimits>;
  /** Per-principal counting (default: this process only). index.ts passes a RedisQuota: the limit spans instances. */
  quota?: SubscriptionQuota;
  /** API keys are re-verified this often (a revocation ends their subscriptions within it + the key cache TTL). */
  reverifyMs?: number;
  /** Delivery lag and overload closes, for the metrics registry. */
  observer?: EngineObserver;
  /**
   * Access-token revocations (the gateway's `tokenRevocations`): a revoked person's connections (in that
   * organization) close with 4403 as soon as this instance learns of it. Absent: only expiry ends them.
   */
  revocations?: Pick<TokenRevocations, 'onRevoked' | 'isRevoked'>;
}

export interface SubscriptionBridge {
  engine: SubscriptionEngine;
  /** Handles `upgrade` on GRAPHQL_PATH (graphql-transport-ws). */
  attach(server: Server): void;
  /** Node handler: SSE on SSE_STREAM_PATH, everything else to `next`. */
  wrap(next: (req: IncomingMessage, res: ServerResponse) => unknown): (req: IncomingMessage, res: ServerResponse) => void;
  /** SIGTERM: close every connection with 1012 and refuse new ones. */
  drain(): void;
  close(): Promise<void>;
}

/**
 * graphql-ws (graphql-transport-ws) on the gateway's http.Server and graphql-sse at /graphql/stream, both backed by
 * one SubscriptionEngine. Authentication at connect is the gateway's own `authenticate` (core/, same code as HTTP);
 * every event is then resolved with core `execute` as the connection's principal, in process (no HTTP round trip, no
 * credential re-verification per event), so @requiresScopes/@policy authorization, limits and tenant isolation apply
 * per event exactly as for a query. The credential's expiry, an API key's revocation and a revocation of the
 * person's access tokens (erased, removed from or demoted in the organization) end the connection (watchCredential).
 */
export function createSubscriptionBridge(opts: SubscriptionBridgeOptions): SubscriptionBridge {
  const { gateway, log } = opts;
  const reverifyMs = opts.reverifyMs ?? 15_000;
  const upstream = new Upstream(opts.bus, opts.subjectPrefix, log);

  const apollo = gateway.apollo as unknown as { schema?: GraphQLSchema; supergraphSdl?: string };
  let policyInUse = typeof apollo.supergraphSdl === 'string' && apollo.supergraphSdl.includes('@policy');
  const viewerDependence = new ViewerDependenceCache(typeof apollo.supergraphSdl === 'string' ? apollo.supergraphSdl : undefined);
  gateway.apollo.onSchemaLoadOrUpdate(({ coreSupergraphSdl }) => {
    policyInUse = coreSupergraphSdl.includes('@policy');
    viewerDependence.update(coreSupergraphSdl);
  });

  // The subscribed document passed the persisted-document rules at subscribe time (documentFor); the lookups built
  // from it are the gateway's own operations, so they run as the subscriber without going through HTTP.
  const execute: LookupExecutor = async (query, variables, principal) => ({
    body: await gateway.execute(principal, query, variables, 'CosSubscriptionLookup'),
  });

  const engine = new SubscriptionEngine({
    upstream,
    schema: () => apollo.schema,
    identityMatters: () => policyInUse,
    viewerDependent: (shape) => {
      const schema = apollo.schema;
      return !schema || viewerDependence.check(shape.key, schema, () => parse(lookupDocument(shape, 1)));
    },
    observer: opts.observer,
    execute,
    log,
    quota: opts.quota,
    limits: opts.limits,
  });

  /** Subscriptions need a signed-in caller: the same `authenticate` as HTTP, anonymous refused. */
  async function authenticate(authorization: unknown): Promise<Authentication> {
    if (typeof authorization !== 'string' || !authorization.trim()) throw new AuthenticationError('Missing credentials');
    const auth = await gateway.authenticate({ authorization });
    if (!auth) throw new AuthenticationError('Missing credentials');
    return auth;
  }

  // Open connections of people (JWTs), checked against each revocation this instance learns.
  const byPerson = new Map<Connection, Authentication>();
  const stopRevocations = opts.revocations?.onRevoked((r) => {
    for (const [conn, auth] of byPerson) {
      const p = auth.principal;
      if (p.kind !== 'user' || p.userId !== r.userId || (r.orgId !== null && r.orgId !== p.orgId)) continue;
      if (!opts.revocations!.isRevoked(p.userId, p.orgId, auth.issuedAt ?? undefined)) continue;
      log.info({ userId: p.userId, orgId: p.orgId, connection: conn.id }, 'closing subscriptions of a revoked access token');
      byPerson.delete(conn);
      conn.close(CloseCode.Forbidden, 'Forbidden: access revoked');
    }
  });

  /** Ends the connection when its credential expires or is revoked, and re-verifies API keys (revocation). */
  function watchCredential(auth: Authentication, conn: Connection): () => void {
    const timers: NodeJS.Timeout[] = [];
    if (auth.kind === 'jwt' && auth.principal.kind === 'user') byPerson.set(conn, auth);
    if (auth.expiresAt !== null) {
      const t = setTimeout(() => conn.close(CloseCode.Forbidden, 'Forbidden: token expired'), Math.max(0, auth.expiresAt - Date.now()));
      t.unref();
      timers.push(t);
    }
    if (auth.kind === 'apiKey') {
      const t = setInterval(() => {
        gateway
          .authenticate({ authorization: `ApiKey ${auth.secret}` })
          .catch((err: unknown) => {
            if (err instanceof AuthenticationError) conn.close(CloseCode.Forbidden, 'Forbidden: API key revoked');
            else log.warn({ err }, 'api-key re-verification failed; keeping the subscription');
          });
      }, reverifyMs);
      t.unref();
      timers.push(t);
    }
    return () => {
      byPerson.delete(conn);
      timers.forEach((t) => clearTimeout(t));
    };
  }

  /**
   * The document a subscribe request may run, by the same persisted-document rules as HTTP (usePersisted): a partner
   * key names one of its client's registered documents (`extensions.persistedQuery.sha256Hash` or `documentId`, with
   * or without the text); first-party callers may also send the text alone (unless PERSISTED_FIRST_PARTY=safelist).
   */
  async function documentFor(principal: Principal, params: { query?: unknown; extensions?: unknown; documentId?: unknown }): Promise<string | GraphQLError[]> {
    try {
      const ext = (params.extensions ?? {}) as Record<string, unknown>;
      const { id, viaApq } = persistedIdOf(ext.persistedQuery, params.documentId ?? ext.documentId);
      const query = typeof params.query === 'string' && params.query.length > 0 ? params.query : undefined;
      return (await gateway.resolvePersisted(principal, { id, query, viaApq })) ?? '';
    } catch (err) {
      if (err instanceof GraphQLError) return [err];
      throw err;
    }
  }

  function prepare(query: unknown, schema: GraphQLSchema | undefined): DocumentNode | GraphQLError[] {
    if (!schema) return [serviceUnavailable('The gateway is not ready yet: retry shortly')];
    if (typeof query !== 'string' || !query) return [new GraphQLError('Missing query', { extensions: { code: 'BAD_USER_INPUT' } })];
    let doc: DocumentNode;
    try {
      doc = parse(query, { maxTokens: 5_000 });
    } catch (err) {
      return [new GraphQLError((err as Error).message, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
    }
    const errors = validate(schema, doc);
    if (errors.length) return errors.map((e) => new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }));
    return doc;
  }

  /** Events come from NATS: without it a subscription would wait for nothing. Refused at once, retryable. */
  const busDown = () => serviceUnavailable('Subscriptions are unavailable for a moment: the event bus is not connected; retry shortly');

  // ---------------- graphql-ws ----------------
  const wss = new WebSocketServer({ noServer: true, maxPayload: 256 * 1024 });
  interface WsState {
    conn: Connection;
    resumeAfter: string | null;
    unwatch: () => void;
  }
  const wsState = new WeakMap<WebSocket, WsState>();
  useServer<Record<string, unknown>, { socket: WebSocket; request: IncomingMessage }>(
    {
      onConnect: async (ctx) => {
        if (engine.isDraining) {
          ctx.extra.socket.close(CloseCode.ServiceRestart, 'Service restart');
          return false;
        }
        const params = ctx.connectionParams ?? {};
        let auth: Authentication;
        try {
          auth = await authenticate(params.authorization ?? params.Authorization);
        } catch (err) {
          if (err instanceof AuthenticationError) return false; // 4403 Forbidden
          log.error({ err }, 'subscription authentication unavailable');
          ctx.extra.socket.close(1011, 'Authentication is temporarily unavailable');
          return false;
        }
        const socket = ctx.extra.socket;
        const conn: Connection = {
          id: randomUUID(),
          principal: auth.principal,
          close: (code, reason) => {
            if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(code, reason);
          },
        };
        engine.register(conn);
        const after = params.after;
        wsState.set(socket, { conn, resumeAfter: typeof after === 'string' ? after : null, unwatch: watchCredential(auth, conn) });
        return true;
      },
      onSubscribe: async (ctx, _id, payload) => {
        const state = wsState.get(ctx.extra.socket);
        if (!state) return [new GraphQLError('Not authenticated', { extensions: { code: 'UNAUTHENTICATED' } })];
        if (!opts.bus.up) return [busDown()];
        const text = await documentFor(state.conn.principal, payload);
        if (Array.isArray(text)) return text;
        const schema = apollo.schema;
        const doc = prepare(text, schema);
        if (Array.isArray(doc)) return doc;
        const denied = gateway.subscriptionDenials(state.conn.principal, doc, payload.operationName);
        if (denied.length) return denied;
        const args: ExecutionArgs = {
          schema: schema!,
          document: doc,
          operationName: payload.operationName ?? null,
          variableValues: payload.variables ?? {},
          contextValue: { conn: state.conn, resumeAfter: state.resumeAfter },
        };
        return args;
      },
      execute: () => ({ errors: [new GraphQLError('Only subscriptions over WebSocket; send queries over HTTP', { extensions: { code: 'BAD_USER_INPUT' } })] }),
      subscribe: (args) => {
        const c = args.contextValue as { conn: Connection; resumeAfter: string | null };
        return engine.subscribe(c.conn, args.document, args.operationName, args.variableValues as Record<string, unknown>, c.resumeAfter);
      },
      onClose: (ctx) => {
        const state = wsState.get(ctx.extra.socket);
        if (state) {
          state.unwatch();
          engine.unregister(state.conn);
          wsState.delete(ctx.extra.socket);
        }
      },
    },
    wss,
  );

  // ---------------- graphql-sse (distinct connections mode) ----------------
  const sse = createSseHandler({
    authenticate: () => null,
    onSubscribe: async (req, params) => {
      const headers = req.headers as { get(k: string): string | null | undefined };
      if (engine.isDraining) return [null, { status: 503, statusText: 'Service Unavailable' }];
      let auth: Authentication;
      try {
        auth = await authenticate(headers.get('authorization'));
      } catch (err) {
        if (err instanceof AuthenticationError) {
          return [JSON.stringify({ errors: [{ message: err.message, extensions: { code: 'UNAUTHENTICATED' } }] }), { status: 401, statusText: 'Unauthorized' }];
        }
        throw err;
      }
      if (!opts.bus.up) {
        const e = busDown();
        return [JSON.stringify({ errors: [{ message: e.message, extensions: { code: e.extensions.code } }] }), { status: 503, statusText: 'Service Unavailable' }];
      }
      const text = await documentFor(auth.principal, params);
      if (Array.isArray(text)) {
        // As over HTTP: OPERATION_NOT_ALLOWED is 403, a malformed id or mismatching hash 400 (stable code in the body).
        const forbidden = text.some((e) => e.extensions?.code === 'OPERATION_NOT_ALLOWED');
        return [
          JSON.stringify({ errors: text.map((e) => ({ message: e.message, extensions: { code: e.extensions?.code } })) }),
          forbidden ? { status: 403, statusText: 'Forbidden' } : { status: 400, statusText: 'Bad Request' },
        ];
      }
      const doc = prepare(text, apollo.schema);
      if (Array.isArray(doc)) return { errors: doc };
      const denied = gateway.subscriptionDenials(auth.principal, doc, params.operationName);
      if (denied.length) {
        return [JSON.stringify({ errors: denied.map((e) => ({ message: e.message, extensions: { code: e.extensions?.code } })) }), { status: 403, statusText: 'Forbidden' }];
      }
      let ended = false;
      let iterator: AsyncIterableIterator<unknown> | null = null;
      const conn: Connection = {
        id: randomUUID(),
        principal: auth.principal,
        close: (code, reason) => {
          if (ended) return;
          ended = true;
          log.info({ code, reason }, 'closing subscription event stream');
          void iterator?.return?.();
        },
      };
      engine.register(conn);
      const unwatch = watchCredential(auth, conn);
      const ext = (params.extensions ?? {}) as { after?: unknown };
      const result = await engine.subscribe(
        conn,
        doc,
        params.operationName,
        params.variables ?? {},
        headers.get('last-event-id') ?? (typeof ext.after === 'string' ? ext.after : null),
      );
      if (!(Symbol.asyncIterator in result)) {
        unwatch();
        engine.unregister(conn);
        return result;
      }
      // A revocation learned while this request was being prepared (after authenticate): refused like a revoked token.
      const p = auth.principal;
      if (p.kind === 'user' && opts.revocations?.isRevoked(p.userId, p.orgId, auth.issuedAt ?? undefined)) {
        unwatch();
        engine.unregister(conn);
        void result.return?.();
        return [JSON.stringify({ errors: [{ message: 'Access token revoked', extensions: { code: 'UNAUTHENTICATED' } }] }), { status: 401, statusText: 'Unauthorized' }];
      }
      iterator = result;
      const inner = result;
      const wrapped: AsyncIterableIterator<typeof inner extends AsyncIterableIterator<infer T> ? T : never> = {
        next: () => inner.next(),
        return: async () => {
          unwatch();
          engine.unregister(conn);
          return inner.return ? inner.return() : { value: undefined, done: true };
        },
        [Symbol.asyncIterator]() {
          return this;
        },
      };
      return wrapped;
    },
  });

  return {
    engine,
    attach(server) {
      server.on('upgrade', (req, socket, head) => {
        const pathname = new URL(req.url ?? '/', 'http://x').pathname;
        if (pathname !== WS_PATH) return socket.destroy();
        if (engine.isDraining) {
          socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
          return;
        }
        wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
      });
    },
    wrap(next) {
      return (req, res) => {
        const pathname = new URL(req.url ?? '/', 'http://x').pathname;
        if (pathname !== SSE_STREAM_PATH) return void next(req, res);
        sse(req, res).catch((err: unknown) => {
          log.error({ err }, 'sse handler failed');
          if (!res.headersSent) res.writeHead(500).end();
          else res.end();
        });
      };
    },
    drain() {
      // Logged before closing anything: with many connections the process may be killed before close() finishes.
      log.info({ subscriptionStats: { ...engine.stats, upstreamSubjects: upstream.size } }, 'subscription stats');
      engine.drain();
    },
    async close() {
      stopRevocations?.();
      log.info({ subscriptionStats: { ...engine.stats, upstreamSubjects: upstream.size } }, 'subscription stats');
      engine.drain();
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await upstream.close();
      await engine.quota.close();
    },
  };
}
