import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { GraphQLError, parse } from 'graphql';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { PRINCIPAL_HEADER, SIGNATURE_HEADER, verifyPrincipal, type Principal } from '@cos/auth';
import { isDatabaseUnavailable } from '@cos/db';
import { ErrorCode, isAppError } from '@cos/errors';
import type { Logger } from '@cos/logger';
import { HeadApartResponse } from './response';

/** What every subgraph request carries, before the service adds its own DataLoaders. */
export interface BaseContext {
  principal: Principal;
  requestId: string;
  correlationId: string;
  traceparent: string | null;
  log: Logger;
}

export type ReadinessCheck = () => Promise<void>;

export interface SubgraphServerOptions<Ctx extends BaseContext> {
  name: string;
  typeDefs: string;
  resolvers: GraphQLResolverMap<Ctx>;
  /**
   * Adds per-request state (DataLoaders) to the verified base context. Extend `base` itself (Object.assign) rather
   * than spreading it: its `log` is a getter that creates the request's child logger only when something logs.
   */
  createContext: (base: BaseContext) => Ctx | Promise<Ctx>;
  /** HMAC secret shared with the gateway: requests without a valid signature get 401. */
  internalSecret: string;
  log: Logger;
  /** Dependencies /readyz checks (Postgres, NATS ...). */
  readiness?: Record<string, ReadinessCheck>;
  /**
   * Extra routes outside the gateway signature check, e.g. identity's JWKS. A key ending in `/*` matches every path
   * under it (customers' `/webhooks/*`, which verify their own signatures); the route sees the untouched body.
   */
  routes?: Record<string, (req: Request) => Response | Promise<Response>>;
  /** Extra yoga/envelop plugins (metrics, tracing). */
  plugins?: Plugin[];
  graphiql?: boolean;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
  /** 'jit' (default): graphql-jit compiles each operation; 'graphql-js': the reference executor (tests compare them). */
  executor?: 'jit' | 'graphql-js';
}

const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
// One non-negative integer; anything else (lists, signs) is refused rather than skipping the size check.
const CONTENT_LENGTH = /^\d+$/;

/**
 * Process-wide instrumentation (set once by startSubgraphProcess, see ./process.ts): plugins (metrics, tracing) and
 * routes (GET /metrics) added to every subgraph server this process creates. Servers built in tests without the
 * bootstrap get none.
 */
let processInstrumentation: { plugins: Plugin[]; routes: Record<string, (req: Request) => Response | Promise<Response>> } = {
  plugins: [],
  routes: {},
};
export function setProcessInstrumentation(i: typeof processInstrumentation): void {
  processInstrumentation = i;
}

/**
 * A graphql-yoga server over @apollo/subgraph's buildSubgraphSchema. It refuses unsigned requests, masks unexpected
 * errors (logged with the request id; clients see INTERNAL_SERVER_ERROR, never a stack or SQL) and serves
 * /healthz and /readyz. No I/O happens here, so tests build it in-process.
 */
export function createSubgraphServer<Ctx extends BaseContext>(opts: SubgraphServerOptions<Ctx>) {
  const schema = buildSubgraphSchema([{ typeDefs: parse(opts.typeDefs), resolvers: opts.resolvers as GraphQLResolverMap<unknown> }]);
  const maxBody = opts.maxBodyBytes ?? 1_000_000;
  let draining = false;
  // The gate verifies the signature once; the context reads the verified principal from here (HMAC once per request).
  const principals = new WeakMap<Request, Principal>();

  const gatePlugin: Plugin = {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      if (url.pathname === '/healthz') {
        endResponse(fetchAPI.Response.json({ status: 'ok', service: opts.name }));
        return;
      }
      if (url.pathname === '/readyz') {
        const checks: Record<string, string> = {};
        let ok = !draining;
        for (const [name, check] of Object.entries(opts.readiness ?? {})) {
          try {
            await withTimeout(check(), 2_000);
            checks[name] = 'ok';
          } catch (err) {
            ok = false;
            checks[name] = (err as Error).message || 'failed';
          }
        }
        endResponse(
          fetchAPI.Response.json({ status: ok ? 'ok' : draining ? 'draining' : 'unavailable', checks }, { status: ok ? 200 : 503 }),
        );
        return;
      }
      const route = opts.routes?.[url.pathname] ?? processInstrumentation.routes[url.pathname] ?? prefixRoute(opts.routes, url.pathname);
      if (route) {
        endResponse(await route(request));
        return;
      }
      if (PUBLIC_PATHS.has(url.pathname)) return;
      const length = request.headers.get('content-length');
      if (length !== null && !CONTENT_LENGTH.test(length)) {
        endResponse(errorResponse(fetchAPI.Response, 400, ErrorCode.BAD_USER_INPUT, 'Invalid Content-Length'));
        return;
      }
      if (Number(length ?? 0) > maxBody) {
        endResponse(errorResponse(fetchAPI.Response, 413, ErrorCode.BAD_USER_INPUT, 'Request body too large'));
        return;
      }
      const verdict = verifyPrincipal(
        request.headers.get(PRINCIPAL_HEADER),
        request.headers.get(SIGNATURE_HEADER),
        opts.internalSecret,
      );
      if (!verdict.ok) {
        opts.log.warn({ reason: verdict.reason, path: url.pathname }, 'refused request without a valid gateway signature');
        endResponse(errorResponse(fetchAPI.Response, 401, ErrorCode.UNAUTHENTICATED, 'Requests must come through the gateway'));
        return;
      }
      principals.set(request, verdict.principal);
    },
  };

  /**
   * The body limit without yoga's per-request stream: yoga's own (turned off below) pipes EVERY body through a
   * counting TransformStream, which cost the subgraphs measurable CPU per request. A body with a valid
   * Content-Length at most maxBody needs no counting — the gate refused larger ones, and node's HTTP parser frames
   * the body by that header (a body cannot run past it; Content-Length with Transfer-Encoding is refused by node).
   * Only bodies without a length (chunked) are counted as they stream.
   */
  const bodyLimitPlugin: Plugin = {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      if (!requestParser || !request.body || request.headers.get('content-length') !== null) return;
      setRequestParser((req) => requestParser(limitBody(req, maxBody, fetchAPI)));
    },
  };

  /**
   * Operations execute through graphql-jit (compiled once per document; yoga's parse cache keeps the document
   * object, the plugin's WeakMap the compiled query): the 50-task pages and `_entities` batches spent most of
   * their CPU in graphql-js's generic field completion. An execution result WITHOUT `data` is a request error raised
   * before any field ran — variable coercion (a bad enum value): the caller's input, as graphql-js reports it with
   * an originalError that maskError maps; graphql-jit's carry none, so the code is set here.
   */
  const requestErrorsAreInput: Plugin = {
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          if (!('errors' in result) || 'data' in result || !result.errors?.length) return;
          setResult({
            ...result,
            errors: result.errors.map((e) =>
              e.extensions?.code ? e : new GraphQLError(e.message, { nodes: e.nodes, extensions: { ...e.extensions, code: ErrorCode.BAD_USER_INPUT } }),
            ),
          });
        },
      };
    },
  };

  const yoga: YogaServerInstance<Record<string, unknown>, Ctx> = createYoga<Record<string, unknown>, Ctx>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: opts.graphiql ?? false,
    logging: false,
    maxRequestBodySize: false, // bodyLimitPlugin instead
    plugins: [...processInstrumentation.plugins, gatePlugin, ...(opts.plugins ?? []), ...(opts.executor === 'graphql-js' ? [] : [useGraphQlJit()]), requestErrorsAreInput, bodyLimitPlugin],
    context: async ({ request }) => {
      // The gate plugin refused unsigned requests before this runs; anonymous only narrows the type.
      const principal: Principal = principals.get(request) ?? { kind: 'anonymous' };
      const requestId = request.headers.get('x-request-id') ?? randomUUID();
      const correlationId = request.headers.get('x-correlation-id') ?? requestId;
      let log: Logger | undefined;
      const base: BaseContext = {
        principal,
        requestId,
        correlationId,
        traceparent: request.headers.get('traceparent'),
        // Created on first use: most requests log nothing, and a pino child per request is not free.
        get log() {
          return (log ??= opts.log.child({ requestId, correlationId }));
        },
      };
      return opts.createContext(base);
    },
    maskedErrors: {
      maskError(error, message) {
        const original = error instanceof GraphQLError ? error.originalError : error;
        if (isAppError(error)) return error;
        if (error instanceof GraphQLError && isAppError(original)) return original as GraphQLError;
        // Validation/parse/request-level errors carry no originalError and no field path: safe to show. (A field
        // error without originalError — graphql-jit's non-null violation — is masked below like graphql-js's.)
        if (error instanceof GraphQLError && !original && !error.path) return error;
        // Request-level errors (no field path), e.g. variable coercion of a bad enum value, are the caller's input.
        if (error instanceof GraphQLError && !error.path && original instanceof GraphQLError) {
          return new GraphQLError(error.message, { nodes: error.nodes, extensions: { code: ErrorCode.BAD_USER_INPUT } });
        }
        const cause = original ?? error;
        if (isDatabaseUnavailable(cause)) {
          // Postgres restarting or unreachable: a transient outage, not a bug — SERVICE_UNAVAILABLE tells the client to
          // retry with backoff (pnpm chaos saw "Unexpected error." here before). The transaction did not commit (a
          // connection lost during COMMIT itself is the one case left unknown; writes carry expectedVersion).
          opts.log.warn({ err: cause instanceof Error ? cause.message : String(cause) }, 'database unavailable');
          return new GraphQLError(`The ${opts.name} service is unavailable: retry shortly`, { extensions: { code: ErrorCode.SERVICE_UNAVAILABLE } });
        }
        opts.log.error({ err: original ?? error }, 'unexpected error');
        return new GraphQLError(message, { extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } });
      },
    },
  });

  return {
    yoga,
    schema,
    /** Marks the server as draining: /readyz answers 503 so load balancers stop sending traffic. */
    drain() {
      draining = true;
    },
  };
}

/** `request` with its body counted as it streams: past `limit` bytes the parse fails with 413. */
function limitBody(request: Request, limit: number, fetchAPI: { Request: typeof Request; TransformStream: typeof TransformStream }): Request {
  // A native stream needs the native TransformStream, a whatwg-node ponyfill stream the ponyfill's.
  const Transform = request.body instanceof ReadableStream ? TransformStream : fetchAPI.TransformStream;
  let seen = 0;
  const counted = request.body!.pipeThrough(
    new Transform<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > limit) controller.error(new GraphQLError('Request body too large', { extensions: { code: ErrorCode.BAD_USER_INPUT, http: { status: 413 } } }));
        else controller.enqueue(chunk);
      },
    }),
  );
  return new fetchAPI.Request(request.url, { method: request.method, headers: request.headers, signal: request.signal, body: counted, duplex: 'half' } as RequestInit);
}

/** The route whose `<prefix>/*` key covers `pathname`, if any. */
function prefixRoute(routes: SubgraphServerOptions<BaseContext>['routes'], pathname: string) {
  if (!routes) return undefined;
  for (const [key, route] of Object.entries(routes)) {
    if (key.endsWith('/*') && pathname.startsWith(key.slice(0, -1))) return route;
  }
  return undefined;
}

function errorResponse(R: typeof Response, status: number, code: string, message: string): Response {
  return R.json({ errors: [{ message, extensions: { code } }] }, { status });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

export interface RunOptions {
  name: string;
  port: number;
  host?: string;
  log: Logger;
  handler: Parameters<typeof createHttpServer>[1];
  /** Called on SIGINT/SIGTERM after the server stopped accepting and in-flight requests finished. */
  onShutdown?: () => Promise<void>;
  onDrain?: () => void;
  /** Longest wait for in-flight requests before forcing connections closed. */
  drainTimeoutMs?: number;
  /** After SIGTERM, serve this long with readiness 503 before the listener closes (SHUTDOWN_DELAY_MS). */
  shutdownDelayMs?: number;
}

/** Listens, then on SIGINT/SIGTERM: drain (readyz 503), stop accepting, finish in-flight, close resources, exit. */
export async function runService(opts: RunOptions): Promise<Server> {
  let stopping = false;
  const handler = opts.handler!;
  // Large string bodies leave beside the head, not copied into one string with it (response.ts).
  const server = createHttpServer({ ServerResponse: HeadApartResponse }, (req, res) => {
    // While draining, tell keep-alive clients (the gateway's pool) to close after this response, so server.close()
    // does not wait for idle sockets until the force timer.
    if (stopping) res.setHeader('connection', 'close');
    return handler(req, res);
  });
  // Keep-alive longer than the gateway's pool idle timeout so the gateway never reuses a socket we just closed.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(opts.port, opts.host ?? '127.0.0.1', resolve));
  opts.log.info({ port: opts.port }, `${opts.name} listening`);
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    opts.log.info({ signal }, 'shutting down');
    opts.onDrain?.();
    // Still accepting (each answer with `connection: close`) until the balancers have seen /readyz turn 503.
    if (opts.shutdownDelayMs) await new Promise((r) => setTimeout(r, opts.shutdownDelayMs));
    const force = setTimeout(() => server.closeAllConnections(), opts.drainTimeoutMs ?? 10_000);
    force.unref();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Sockets that become idle after their last response are closed as they appear.
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    server.closeIdleConnections();
    await closed;
    clearInterval(sweep);
    try {
      await opts.onShutdown?.();
    } catch (err) {
      opts.log.error({ err }, 'error during shutdown');
    }
    opts.log.info('stopped');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  return server;
}
