import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { GraphQLError, parse } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { PRINCIPAL_HEADER, SIGNATURE_HEADER, verifyPrincipal, type Principal } from '@cos/auth';
import { ErrorCode, isAppError } from '@cos/errors';
import type { Logger } from '@cos/logger';

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
  /** Adds per-request state (DataLoaders) to the verified base context. */
  createContext: (base: BaseContext) => Ctx | Promise<Ctx>;
  /** HMAC secret shared with the gateway: requests without a valid signature get 401. */
  internalSecret: string;
  log: Logger;
  /** Dependencies /readyz checks (Postgres, NATS ...). */
  readiness?: Record<string, ReadinessCheck>;
  /** Extra unauthenticated GET routes, e.g. identity's JWKS. */
  routes?: Record<string, (req: Request) => Response | Promise<Response>>;
  /** Extra yoga/envelop plugins (metrics, tracing). */
  plugins?: Plugin[];
  graphiql?: boolean;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
}

const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

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
      const route = opts.routes?.[url.pathname] ?? processInstrumentation.routes[url.pathname];
      if (route) {
        endResponse(await route(request));
        return;
      }
      if (PUBLIC_PATHS.has(url.pathname)) return;
      const len = Number(request.headers.get('content-length') ?? 0);
      if (len > maxBody) {
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
      }
    },
  };

  const yoga: YogaServerInstance<Record<string, unknown>, Ctx> = createYoga<Record<string, unknown>, Ctx>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: opts.graphiql ?? false,
    logging: false,
    plugins: [...processInstrumentation.plugins, gatePlugin, ...(opts.plugins ?? [])],
    context: async ({ request }) => {
      const verdict = verifyPrincipal(
        request.headers.get(PRINCIPAL_HEADER),
        request.headers.get(SIGNATURE_HEADER),
        opts.internalSecret,
      );
      // The gate plugin already refused unsigned requests; this only narrows the type.
      const principal: Principal = verdict.ok ? verdict.principal : { kind: 'anonymous' };
      const requestId = request.headers.get('x-request-id') ?? randomUUID();
      const correlationId = request.headers.get('x-correlation-id') ?? requestId;
      const base: BaseContext = {
        principal,
        requestId,
        correlationId,
        traceparent: request.headers.get('traceparent'),
        log: opts.log.child({ requestId, correlationId }),
      };
      return opts.createContext(base);
    },
    maskedErrors: {
      maskError(error, message) {
        const original = error instanceof GraphQLError ? error.originalError : error;
        if (isAppError(error)) return error;
        if (error instanceof GraphQLError && isAppError(original)) return original as GraphQLError;
        // Validation/parse errors from graphql-js carry no originalError and are safe to show.
        if (error instanceof GraphQLError && !original) return error;
        // Request-level errors (no field path), e.g. variable coercion of a bad enum value, are the caller's input.
        if (error instanceof GraphQLError && !error.path && original instanceof GraphQLError) {
          return new GraphQLError(error.message, { nodes: error.nodes, extensions: { code: ErrorCode.BAD_USER_INPUT } });
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
}

/** Listens, then on SIGINT/SIGTERM: drain (readyz 503), stop accepting, finish in-flight, close resources, exit. */
export async function runService(opts: RunOptions): Promise<Server> {
  let stopping = false;
  const handler = opts.handler!;
  const server = createHttpServer((req, res) => {
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
