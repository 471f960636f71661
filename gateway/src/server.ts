import path from 'node:path';
import { ApolloGateway } from '@apollo/gateway';
import { useApolloFederation } from '@envelop/apollo-federation';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { DocumentNode, GraphQLError } from 'graphql';
import type { Redis } from 'ioredis';
import type { Principal } from '@cos/auth';
import type { Logger } from '@cos/logger';
import { createApiKeyVerifier } from './auth/api-keys';
import { createJwtVerifier } from './auth/jwt';
import { TokenRevocations } from './auth/token-revocations';
import type { GatewayContext, GatewayServerContext } from './context';
import { CosDataSource } from './execution/datasource';
import { DEFAULT_FILES_DIR, type GatewayEnv } from './env';
import { createErrorHandling } from './errors';
import { createSubgraphHttp, withCircuitBreaker } from './execution/http';
import { createOrgMemberLookup } from './authz/org-members';
import { subscriptionRootDenials } from './authz/engine';
import { DEFAULT_POLICIES } from './authz/policies';
import { requirementsFromSupergraph, type RequirementMap } from './authz/requirements';
import { useAuth } from './auth/useAuth';
import { createAuthenticator, createCoreExecute, type Authenticate, type Execute } from './core';
import { useAuthorization } from './authz/useAuthorization';
import { DEFAULT_RATE_LIMITS, useRateLimit, type RateLimitConfig, type RateLimitScope } from './limits/useRateLimit';
import { useSecurityHeaders } from './transport/useSecurityHeaders';
import { useIntrospectionControl } from './authz/introspection';
import { useBodyLimit } from './limits/useBodyLimit';
import { useWebhookProxy } from './transport/useWebhookProxy';
import { useUnsubscribeProxy } from './transport/useUnsubscribeProxy';
import { createGraphiQL } from './transport/useGraphiQL';
import { useHealth } from './transport/useHealth';
import { createDocumentStore } from './persisted/documents';
import { resolvePersisted, usePersisted } from './persisted/usePersisted';
import { DEFAULT_LIMITS, useLimits, type LimitOptions } from './limits/useLimits';
import { useRequestContext } from './transport/useRequestContext';
import { useResponseCache } from './cache/useResponseCache';
import type { ResponseCache } from './cache/response-cache';
import { useValidationErrors } from './transport/useValidationErrors';
import { subgraphsOf, supergraphManager, type SubgraphInfo } from './execution/supergraph';
import { clientIpResolver } from './auth/client-ip';
import { blobStoreFromEnv, scannerFromConfig } from '@cos/files';
import { useUploads } from './uploads/useUploads';
import { useFileDownloads } from './uploads/useFileDownloads';
import { createNativeExecutor } from './execution/executor';

export const GRAPHQL_PATH = '/graphql';
/**
 * graphql-sse's endpoint: the subscription bridge serves it in front of yoga (subscriptions/index.ts `wrap`) and
 * authenticates it itself; yoga's auth and rate limit list it too, for a request that reaches yoga anyway.
 */
export const SSE_PATH = '/graphql/stream';

/**
 * Extension points, in pipeline order. Each slot takes yoga/envelop plugins (the gateway's own live in the folder
 * of their concern: auth/, limits/, persisted/, cache/, authz/, transport/):
 * - `afterAuth`: runs once the principal is known and the built-in rate limit (useRateLimit) let the request through,
 *   before the body is parsed.
 * - `documents`: before the built-in persisted-document rules (usePersisted: APQ in Redis and trusted documents,
 *   safelist-only partners answered OPERATION_NOT_ALLOWED) and before parsing/validation.
 * - `authorization`: after validation, before planning — @authenticated/@requiresScopes/@policy with Router
 *   semantics (remove unauthorized fields from the document, null + FORBIDDEN at their paths).
 * - `observability`: metrics/tracing plugins (prom-client, OpenTelemetry), outermost.
 * Subscriptions are not a yoga plugin: @apollo/gateway executes none. The subscription bridge (subscriptions/)
 * attaches graphql-ws to the same http.Server at GRAPHQL_PATH (`upgrade` event) and graphql-sse at SSE_PATH; it
 * authenticates with this gateway's `authenticate` and resolves each event's selection with `execute` (core/), in
 * process, as the connection's principal.
 */
export interface GatewayPluginSlots {
  observability?: Plugin[];
  afterAuth?: Plugin[];
  documents?: Plugin[];
  authorization?: Plugin[];
}

export interface GatewayDeps {
  env: Pick<
    GatewayEnv,
    | 'NODE_ENV'
    | 'SUPERGRAPH'
    | 'SUPERGRAPH_POLL_MS'
    | 'INTERNAL_SECRET'
    | 'JWKS_URL'
    | 'JWT_ISSUER'
    | 'JWT_AUDIENCE'
    | 'IDENTITY_INTERNAL_URL'
    | 'SUBGRAPH_TIMEOUT_MS'
    | 'SUBGRAPH_CONNECTIONS'
    | 'REDIS_PREFIX'
    | 'MAX_BODY_BYTES'
    | 'subgraphUrls'
  > &
    /** Attachments (defaults: DEFAULT_FILES_DIR, 10 MiB, 5 files, no scanner). */
    Partial<Pick<GatewayEnv, 'FILES_DIR' | 'FILES_STORE' | 'S3_ENDPOINT' | 'S3_BUCKET' | 'S3_REGION' | 'S3_ACCESS_KEY_ID' | 'S3_SECRET_ACCESS_KEY' | 'S3_FORCE_PATH_STYLE' | 'S3_PREFIX' | 'S3_TIMEOUT_MS' | 'UPLOAD_MAX_BYTES' | 'UPLOAD_MAX_FILES' | 'UPLOAD_SCANNER' | 'UPLOAD_SCAN_TIMEOUT_MS'>> &
    /**
     * Persisted operations (defaults: APQ 1 day, first-party open, no manifests folder, GET max-age 60 s), executor
     * (native), entity batching (and its fetch hold), subgraph-answer caching, trusted proxies, webhook body size.
     */
    Partial<Pick<GatewayEnv, 'ACCESS_TOKEN_MAX_TTL_S' | 'APQ_TTL_S' | 'PERSISTED_FIRST_PARTY' | 'PERSISTED_MANIFESTS_DIR' | 'PERSISTED_GET_MAX_AGE_S' | 'GATEWAY_BATCH_ENTITIES' | 'GATEWAY_ENTITY_FETCH_HOLD_MS' | 'GATEWAY_EXECUTOR' | 'RESPONSE_CACHE_SUBGRAPH' | 'TRUSTED_PROXIES' | 'WEBHOOK_MAX_BODY_BYTES'>>;
  log: Logger;
  /** Connected ioredis client (API-key and document caches, APQ, rate limits). Owned by the caller. */
  redis: Redis;
  limits?: Partial<LimitOptions>;
  /** Rate limits (defaults: DEFAULT_RATE_LIMITS); `onReject` is the metric hook for 429s. */
  rateLimit?: Partial<RateLimitConfig> & { onReject?: (scope: RateLimitScope) => void };
  /** Refuse simple cross-site requests (index.ts: env CSRF_PREVENTION, default on; off unless given). */
  csrfPrevention?: boolean;
  plugins?: GatewayPluginSlots;
  /**
   * Per-principal response cache for queries, invalidated by domain events (index.ts feeds it from NATS and turns it
   * on once the feed is live). Absent: no caching.
   */
  responseCache?: ResponseCache;
  /** A subgraph's circuit breaker changed state (the gauge cos_subgraph_circuit_open). */
  onCircuitChange?: (subgraph: string, state: 'closed' | 'open' | 'half-open') => void;
  /** A query-plan cache lookup of the native executor (cos_query_plan_cache_total; the apollo one is observed apart). */
  onPlanCache?: (result: 'hit' | 'miss') => void;
  /** Backing services the gateway serves without (NATS, Redis), reported by /readyz: name → connected. */
  dependencies?: () => Record<string, boolean>;
  /** Wraps each subgraph's fetcher (observability: fetch latency/errors metrics and a CLIENT span per fetch). */
  instrumentFetch?: (subgraph: string, fetcher: ReturnType<typeof createSubgraphHttp>['fetcher']) => ReturnType<typeof createSubgraphHttp>['fetcher'];
}

export interface Gateway {
  yoga: YogaServerInstance<GatewayServerContext, GatewayContext>;
  apollo: ApolloGateway;
  /** Which executor runs query plans (env GATEWAY_EXECUTOR). */
  executor: 'native' | 'apollo';
  /** Subgraphs of the loaded supergraph, URLs after env overrides. */
  subgraphs(): SubgraphInfo[];
  /**
   * What the subgraph transport saved, summed over subgraphs: entity fetches planned vs HTTP requests sent after
   * batching, and requests that joined an identical one in flight instead of going out (for metrics and the bench).
   */
  transportStats(): { entityFetches: number; entityRequests: number; representationsDeduplicated: number; inflightJoined: number };
  /**
   * The persisted-document rules usePersisted applies (safelist-only partners, APQ): the subscription bridge resolves
   * subscribe requests with them, so a partner subscribes to its registered documents only.
   */
  resolvePersisted(principal: Principal, req: { id?: string; query?: string; viaApq: boolean }): Promise<string | undefined>;
  /** Root fields of a subscription the caller may not subscribe to (their @authenticated / @requiresScopes), as errors. */
  subscriptionDenials(principal: Principal, document: DocumentNode, operationName?: string | null): GraphQLError[];
  /** The one credential reader (core/authenticate.ts): HTTP (useAuth), graphql-ws connection_init and SSE use it. */
  authenticate: Authenticate;
  /**
   * Access-token revocations `authenticate` applies (erased people, members removed or demoted): auth/revocations.ts
   * records them from identity's events, the subscription bridge closes the revoked people's connections.
   */
  tokenRevocations: TokenRevocations;
  /**
   * Runs a query or mutation for an authenticated principal through the same plugins as HTTP (limits, authorization,
   * masking, the executor), in process (core/execute.ts): subscription lookups use it.
   */
  execute: Execute;
  /** /readyz answers 503 from now on, so load balancers stop routing here before we stop accepting. */
  drain(): void;
  /** Stops supergraph polling and closes the subgraph connection pool. */
  close(): Promise<void>;
}

/**
 * Builds the gateway: @apollo/gateway loads the supergraph and @apollo/query-planner plans (query-plan cache on,
 * Federation 2 semantics identical to Apollo's); the plans run in the gateway's own executor (execution/executor,
 * GATEWAY_EXECUTOR=native, the default) or in @apollo/gateway's through @envelop/apollo-federation
 * (GATEWAY_EXECUTOR=apollo). Both sit inside graphql-yoga, so yoga provides GraphQL-over-HTTP (POST/GET,
 * application/graphql-response+json), masking and the envelop plugin ecosystem; core `execute` (core/) reuses the
 * same plugins in process.
 *
 * Why not yoga's own federation executor (@graphql-tools/federation / Hive Gateway runtime): it would be a second
 * query planner with its own semantics next to the composition we check with @apollo/composition; the Apollo
 * planner is the reference implementation of the supergraph's join__ directives, and its plan cache makes per-request
 * overhead one plan lookup. Either executor only replaces the execute function, so everything else in yoga
 * (parsing/validation caches, armor limits, APQ) stays standard.
 *
 * Reads the supergraph (file or URL) when called; nothing happens on import, so tests build it in-process.
 */
export async function createGateway(deps: GatewayDeps): Promise<Gateway> {
  const { env, log } = deps;
  const clientIp = clientIpResolver(env.TRUSTED_PROXIES ?? []);
  const http = createSubgraphHttp({ connections: env.SUBGRAPH_CONNECTIONS, timeoutMs: env.SUBGRAPH_TIMEOUT_MS });
  let subgraphs: SubgraphInfo[] = [];
  let requirements: RequirementMap = new Map();
  let loaded = false;
  let draining = false;
  const dataSources = new Map<string, CosDataSource>();

  // @apollo/gateway otherwise starts usage telemetry to Apollo's endpoint and probes cloud metadata addresses
  // (169.254.169.254 ...) from its constructor. This gateway never phones home; an operator may opt in explicitly.
  process.env.APOLLO_TELEMETRY_DISABLED ??= 'true';
  const apollo = new ApolloGateway({
    supergraphSdl: supergraphManager({
      source: env.SUPERGRAPH,
      pollMs: env.SUPERGRAPH_POLL_MS,
      log,
      onLoad: (sdl) => {
        subgraphs = subgraphsOf(sdl, env.subgraphUrls);
        requirements = requirementsFromSupergraph(sdl);
      },
    }),
    buildService: ({ name, url }) => {
      const source = new CosDataSource({
        name,
        url: env.subgraphUrls[name.toLowerCase()] ?? url ?? '',
        secret: env.INTERNAL_SECRET,
        fetcher: deps.instrumentFetch ? deps.instrumentFetch(name, http.subgraphFetcher) : http.subgraphFetcher,
        timeoutMs: env.SUBGRAPH_TIMEOUT_MS,
        batchEntities: env.GATEWAY_BATCH_ENTITIES,
        onCircuitChange: deps.onCircuitChange,
        log,
      });
      dataSources.set(name, source);
      return source;
    },
    logger: log.child({ component: 'apollo-gateway' }),
  });
  apollo.onSchemaLoadOrUpdate(() => {
    loaded = true;
  });
  // Registered before load(): it builds its planner from every supergraph the gateway loads.
  const native =
    (env.GATEWAY_EXECUTOR ?? 'native') === 'native'
      ? createNativeExecutor({
          apollo,
          dataSources,
          log,
          onPlanCache: deps.onPlanCache,
          // Holding fetches for a merge only pays when the data sources merge them.
          entityFetchHoldMs: env.GATEWAY_BATCH_ENTITIES === false ? 0 : env.GATEWAY_ENTITY_FETCH_HOLD_MS,
        })
      : undefined;
  await apollo.load();

  /**
   * Where the gateway's own calls to identity go (key verification, document lookups, org members):
   * IDENTITY_INTERNAL_URL when set (an internal address of identity's private routes), otherwise the identity
   * subgraph's URL in the current supergraph (read per call: a hot-reloaded supergraph may move it).
   */
  const identityUrl = () => env.IDENTITY_INTERNAL_URL ?? subgraphs.find((s) => s.name.toLowerCase() === 'identity')?.url;
  // One breaker for the gateway's own calls to identity (key verification, document lookups, org members).
  const identityFetcher = withCircuitBreaker(http.fetcher, { name: 'identity (internal)', log });
  const verifyAccessToken = createJwtVerifier({ jwksUrl: env.JWKS_URL, issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE });
  const verifyApiKey = createApiKeyVerifier({
    identityUrl,
    internalSecret: env.INTERNAL_SECRET,
    fetcher: identityFetcher,
    redis: deps.redis,
    redisPrefix: env.REDIS_PREFIX,
    log,
  });

  const tokenRevocations = new TokenRevocations({
    redis: deps.redis,
    prefix: env.REDIS_PREFIX,
    maxTokenTtlS: env.ACCESS_TOKEN_MAX_TTL_S ?? 900,
    log,
  });
  const authenticate = createAuthenticator({
    verifyAccessToken,
    verifyApiKey,
    isRevoked: (userId, orgId, issuedAtS) => tokenRevocations.isRevoked(userId, orgId, issuedAtS),
    log,
  });

  const persisted = {
    store: createDocumentStore({
      redis: deps.redis,
      prefix: env.REDIS_PREFIX,
      apqTtlS: env.APQ_TTL_S ?? 86_400,
      manifestsDir: env.PERSISTED_MANIFESTS_DIR,
      identityUrl,
      internalSecret: env.INTERNAL_SECRET,
      fetcher: identityFetcher,
      log,
    }),
    firstParty: env.PERSISTED_FIRST_PARTY ?? 'open',
  } as const;

  // Attachments: content-addressed blobs under FILES_DIR or in an S3 bucket (FILES_STORE; shared with the tasks service,
  // which deletes them on erasure). Uploads are staged under FILES_DIR/tmp either way.
  const filesDir = env.FILES_DIR ?? DEFAULT_FILES_DIR;
  const blobStore = blobStoreFromEnv({ ...env, FILES_DIR: filesDir });
  const uploadMaxBytes = env.UPLOAD_MAX_BYTES ?? 10 * 1024 * 1024;
  const uploadMaxFiles = env.UPLOAD_MAX_FILES ?? 5;
  const multipartMaxBytes = uploadMaxFiles * uploadMaxBytes + env.MAX_BODY_BYTES;

  const slots = deps.plugins ?? {};
  // GraphiQL (development only) with its assets served from the installed package, never from a CDN.
  const graphiql = env.NODE_ENV === 'development' ? createGraphiQL({ title: 'Company OS graph', subscriptionsEndpoint: SSE_PATH }) : undefined;
  const plugins: Plugin[] = [
    ...(slots.observability ?? []),
    ...(graphiql ? [graphiql.plugin] : []),
    useHealth({
      subgraphs: () => subgraphs,
      isLoaded: () => loaded,
      isDraining: () => draining,
      probe: http.probe,
      probeGraphQL: http.probeGraphQL,
      dependencies: deps.dependencies,
    }),
    useSecurityHeaders({
      production: env.NODE_ENV === 'production',
      csrfPrevention: deps.csrfPrevention ?? false,
      paths: new Set([GRAPHQL_PATH]),
    }),
    // Provider webhooks: forwarded raw to customers before any GraphQL concern (body limit, auth) sees them.
    useWebhookProxy({
      customersUrl: () => subgraphs.find((s) => s.name.toLowerCase() === 'customers')?.url,
      fetcher: (url, init) => http.fetcher(url, init as never) as never,
      maxBodyBytes: env.WEBHOOK_MAX_BODY_BYTES ?? 256 * 1024,
      clientIp,
      log,
    }),
    // Unsubscribe links in mails (README "Email"): forwarded to identity; their signed token is the credential.
    useUnsubscribeProxy({ identityUrl, fetcher: (url, init) => http.fetcher(url, init as never) as never, log }),
    useFileDownloads({ store: blobStore, secret: env.INTERNAL_SECRET, log }),
    // Multipart uploads may be as big as their files (each checked by useUploads), the JSON fields stay small.
    useBodyLimit(env.MAX_BODY_BYTES, { multipartMaxBytes, paths: new Set([GRAPHQL_PATH]) }),
    useAuth({ authenticate, paths: new Set([GRAPHQL_PATH, SSE_PATH]), log, clientIp }) as Plugin,
    useRateLimit({
      clientIp,
      redis: deps.redis,
      prefix: env.REDIS_PREFIX,
      config: { ...DEFAULT_RATE_LIMITS, ...deps.rateLimit },
      onReject: deps.rateLimit?.onReject,
      paths: new Set([GRAPHQL_PATH, SSE_PATH]),
      log,
    }),
    ...(slots.afterAuth ?? []),
    useUploads({
      store: blobStore,
      stagingDir: path.join(filesDir, 'tmp'),
      scanner: scannerFromConfig(env.UPLOAD_SCANNER ?? 'none', env.UPLOAD_SCAN_TIMEOUT_MS),
      secret: env.INTERNAL_SECRET,
      maxFileBytes: uploadMaxBytes,
      maxFiles: uploadMaxFiles,
      maxRequestBytes: multipartMaxBytes,
      path: GRAPHQL_PATH,
      log,
    }),
    useRequestContext() as Plugin,
    ...(slots.documents ?? []),
    usePersisted({ ...persisted, getMaxAgeS: env.PERSISTED_GET_MAX_AGE_S ?? 60, log }),
    ...(deps.responseCache ? [useResponseCache({ cache: deps.responseCache, subgraphAnswers: env.RESPONSE_CACHE_SUBGRAPH }) as Plugin] : []),
    useLimits({ ...DEFAULT_LIMITS, ...deps.limits }),
    useIntrospectionControl({ production: env.NODE_ENV === 'production' }) as Plugin,
    useValidationErrors({ ssePath: SSE_PATH }),
    useAuthorization({
      requirements: () => requirements,
      orgMemberIds: createOrgMemberLookup({
        identityUrl,
        fetcher: identityFetcher,
        internalSecret: env.INTERNAL_SECRET,
      }),
    }) as Plugin,
    ...(slots.authorization ?? []),
    native ? (native.plugin as Plugin) : (useApolloFederation({ gateway: apollo, logger: log.child({ component: 'federation' }) }) as Plugin),
  ];

  const errors = createErrorHandling(log);
  const yoga = createYoga<GatewayServerContext, GatewayContext>({
    graphqlEndpoint: GRAPHQL_PATH,
    graphiql: !!graphiql,
    renderGraphiQL: graphiql?.render,
    landingPage: false,
    batching: false,
    // Bodies are bounded by useBodyLimit (and useUploads for chunked multipart), not by yoga's per-request stream pipe.
    maxRequestBodySize: false,
    logging: errors.logger,
    maskedErrors: { maskError: errors.maskError },
    plugins,
  });

  return {
    yoga,
    apollo,
    executor: native ? 'native' : 'apollo',
    subgraphs: () => subgraphs,
    transportStats() {
      const t = { entityFetches: 0, entityRequests: 0, representationsDeduplicated: 0, inflightJoined: 0 };
      for (const ds of dataSources.values()) {
        const b = ds.entityBatchStats;
        t.entityFetches += b.fetches;
        t.entityRequests += b.requests;
        t.representationsDeduplicated += b.representationsDeduplicated;
        t.inflightJoined += ds.inflight?.joined ?? 0;
      }
      return t;
    },
    authenticate,
    tokenRevocations,
    execute: createCoreExecute(yoga),
    resolvePersisted: (principal, req) => resolvePersisted(persisted, principal, req),
    subscriptionDenials: (principal, document, operationName) =>
      subscriptionRootDenials(document, operationName, principal, requirements, DEFAULT_POLICIES),
    drain() {
      draining = true;
    },
    async close() {
      tokenRevocations.stop();
      await apollo.stop();
      await http.close();
    },
  };
}
