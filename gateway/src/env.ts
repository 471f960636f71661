import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { blobStoreEnvFields, envFields, parseEnv, z } from '@cos/config';
import { parseTrustedProxies } from './auth/client-ip';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Where attachments' blobs live unless FILES_DIR says otherwise (the tasks service has the same default). */
export const DEFAULT_FILES_DIR = path.join(repoRoot, '.data/files');

/** The gateway's environment. Read nowhere else: createGateway takes the parsed values as deps. */
export const gatewayEnvSchema = z.object({
  NODE_ENV: envFields.nodeEnv(),
  LOG_LEVEL: envFields.logLevel(),
  HOST: z.string().default('127.0.0.1'),
  /** See @cos/config envFields.shutdownDelayMs. */
  SHUTDOWN_DELAY_MS: envFields.shutdownDelayMs(),
  PORT: envFields.port(4000),
  /** A file path or an http(s) URL serving the composed supergraph SDL. */
  SUPERGRAPH: z.string().min(1).default(path.join(repoRoot, 'schema/supergraph.graphql')),
  /** Re-read SUPERGRAPH every N ms and hot-swap the schema when it changed; 0 = load once. */
  SUPERGRAPH_POLL_MS: envFields.int(0),
  INTERNAL_SECRET: envFields.secret(),
  JWKS_URL: envFields.url('http://127.0.0.1:4001/.well-known/jwks.json'),
  JWT_ISSUER: z.string().default('cos-identity'),
  JWT_AUDIENCE: z.string().default('cos-graph'),
  /**
   * The longest access-token lifetime identity issues (at least its ACCESS_TOKEN_TTL_S): how long a revocation of a
   * person's tokens (erasure, removal, demotion) is kept in Redis.
   */
  ACCESS_TOKEN_MAX_TTL_S: z.coerce.number().int().positive().default(900),
  /** Base URL of identity for internal calls (API-key verification); default: the supergraph's identity URL origin. */
  IDENTITY_INTERNAL_URL: z.string().url().optional(),
  /**
   * Per subgraph fetch budget. Subgraphs cap SQL at PG_STATEMENT_TIMEOUT_MS (5 s) so a healthy fetch is far below
   * this; past it the fields of that subgraph become errors instead of a hung client request.
   */
  SUBGRAPH_TIMEOUT_MS: envFields.ms(10_000),
  /** One HTTP request per subgraph for the `_entities` fetches a plan issues together (execution/entity-batcher.ts). */
  GATEWAY_BATCH_ENTITIES: envFields.bool(true),
  /**
   * Native executor: how long a ready `_entities` fetch may wait for a sibling plan branch's answer whose continuation
   * calls the same subgraph, so both go out as one batched request (execution/executor/fetch-alignment.ts). Default 5
   * (DEFAULT_ENTITY_FETCH_HOLD_MS; 0 = never): fewer subgraph requests (8–13 → 7–8 per answer on the Guild workload).
   */
  GATEWAY_ENTITY_FETCH_HOLD_MS: z.coerce.number().int().min(0).optional(),
  /**
   * Who runs query plans: `native` (execution/executor: plans compiled once, our fetching, merging and shaping) or
   * `apollo` (@apollo/gateway's executor, kept for comparison and as a fallback). Both plan with @apollo/query-planner.
   */
  GATEWAY_EXECUTOR: z.enum(['native', 'apollo']).default('native'),
  /** undici keep-alive pool size per subgraph origin. */
  SUBGRAPH_CONNECTIONS: z.coerce.number().int().positive().default(64),
  /**
   * Per-principal response cache for queries (in process memory, invalidated by every service's domain events per
   * tenant and subgraph; off while the NATS feed is down). TTL is only the safety net for missed events.
   */
  RESPONSE_CACHE: envFields.bool(true),
  RESPONSE_CACHE_TTL_MS: envFields.ms(30_000),
  RESPONSE_CACHE_MAX_MB: z.coerce.number().int().positive().default(64),
  /** Also cache the subgraph answers of cacheable queries (same keys, rules and memory bound; needs RESPONSE_CACHE). */
  RESPONSE_CACHE_SUBGRAPH: envFields.bool(true),
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  /** Key prefix for everything the gateway keeps in Redis (tests use their own). */
  REDIS_PREFIX: z.string().default('cos:gw:'),
  MAX_BODY_BYTES: z.coerce.number().int().positive().default(1_000_000),
  /** Largest provider webhook body forwarded to customers (`/webhooks/*`); keep it equal to customers' own limit. */
  WEBHOOK_MAX_BODY_BYTES: z.coerce.number().int().positive().default(256 * 1024),
  /** Rate limits (Redis, GCRA): requests per RATE_LIMIT_WINDOW_S per user / partner key / anonymous IP. */
  RATE_LIMIT_ENABLED: envFields.bool(true),
  RATE_LIMIT_WINDOW_S: z.coerce.number().int().positive().default(60),
  RATE_LIMIT_PER_USER: z.coerce.number().int().positive().default(1200),
  RATE_LIMIT_PER_API_KEY: z.coerce.number().int().positive().default(600),
  RATE_LIMIT_PER_IP: z.coerce.number().int().positive().default(600),
  /** Per partner key limits as JSON, by key id or key name: `{"acme-sync": 100}`. */
  RATE_LIMIT_KEYS: z
    .string()
    .default('{}')
    .transform((v, ctx) => {
      let json: unknown = null;
      try {
        json = JSON.parse(v);
      } catch {
        // reported below
      }
      const parsed = z.record(z.string(), z.number().int().positive()).safeParse(json);
      if (!parsed.success) {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object of positive integers' });
        return z.NEVER;
      }
      return parsed.data;
    }),
  /**
   * Proxies whose X-Forwarded-For is believed (comma-separated addresses, CIDRs, `loopback`, `linklocal`,
   * `uniquelocal`); empty = the socket peer is the client (see client-ip.ts). Set it to the ingress / load balancer.
   */
  TRUSTED_PROXIES: z
    .string()
    .default('')
    .transform((v, ctx) => {
      try {
        return parseTrustedProxies(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `invalid address list: ${(err as Error).message}` });
        return z.NEVER;
      }
    }),
  /** Refuse simple (preflight-less) cross-site requests; see transport/useSecurityHeaders.ts. */
  CSRF_PREVENTION: envFields.bool(true),
  /** Attachments: blob storage directory (shared with the tasks service), per-file limit, files per request, scanner. */
  FILES_DIR: z.string().min(1).default(DEFAULT_FILES_DIR),
  ...blobStoreEnvFields,
  UPLOAD_MAX_BYTES: z.coerce.number().int().positive().default(10 * 1024 * 1024),
  UPLOAD_MAX_FILES: z.coerce.number().int().positive().max(20).default(5),
  /** `none`, `eicar` (refuses the EICAR test file only: demos and tests) or `clamd://host:port`. */
  UPLOAD_SCANNER: z.string().regex(/^(none|eicar|clamd:\/\/[^:/]+:\d+)$/).default('none'),
  UPLOAD_SCAN_TIMEOUT_MS: envFields.ms(30_000),
  /** Subscriptions: events come from NATS JetStream (stream `${PREFIX}_EVENTS`). */
  NATS_URL: z.string().default('nats://127.0.0.1:4222'),
  COS_SUBJECT_PREFIX: z.string().regex(/^[a-z][a-z0-9_-]*$/).default('cos'),
  SUBS_MAX_PER_CONNECTION: z.coerce.number().int().positive().default(100),
  SUBS_MAX_PER_PRINCIPAL: z.coerce.number().int().positive().default(500),
  /** Results queued for one connection before it is closed as a slow consumer (1013). */
  SUBS_CONNECTION_BUFFER: z.coerce.number().int().positive().default(1_000),
  /** Events queued for one resolution group before its subscribers are closed with 1013 (try again later). */
  SUBS_GROUP_QUEUE: z.coerce.number().int().positive().default(5_000),
  /** Subscription lookups in flight at once (all groups). */
  SUBS_LOOKUP_CONCURRENCY: z.coerce.number().int().positive().default(4),
  /** APQ registrations live this long in Redis (shared by every instance); after that a client re-registers once. */
  APQ_TTL_S: z.coerce.number().int().positive().default(86_400),
  /** `open`: first-party callers may send any operation (and APQ); `safelist`: only trusted documents, like partners. */
  PERSISTED_FIRST_PARTY: z.enum(['open', 'safelist']).default('open'),
  /** First-party trusted-document manifests (`<client>.json`, Apollo's format), valid for every organization. */
  PERSISTED_MANIFESTS_DIR: z.string().default(path.join(repoRoot, 'schema/persisted')),
  /** Cache-Control max-age of GET-by-hash responses without errors. */
  PERSISTED_GET_MAX_AGE_S: z.coerce.number().int().min(0).default(60),
  /** OTLP/HTTP collector base URL; unset = tracing off (no OpenTelemetry SDK registered). */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
});

export type GatewayEnv = z.infer<typeof gatewayEnvSchema> & {
  /** SUBGRAPH_<NAME>_URL overrides, keyed by lower-case subgraph name (e.g. `tasks`). */
  subgraphUrls: Record<string, string>;
};

/** Collects SUBGRAPH_<NAME>_URL variables; names are matched case-insensitively against the supergraph. */
export function subgraphUrlOverrides(source: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) {
    const m = /^SUBGRAPH_([A-Z0-9_]+)_URL$/.exec(key);
    if (m?.[1] && value) {
      const url = z.string().url().safeParse(value);
      if (!url.success) {
        // eslint-disable-next-line no-console
        console.error(`Invalid environment:\n  ${key}: must be a URL`);
        process.exit(1);
      }
      out[m[1].toLowerCase()] = url.data;
    }
  }
  return out;
}

export function loadEnv(source: NodeJS.ProcessEnv = process.env): GatewayEnv {
  return { ...parseEnv(gatewayEnvSchema, source), subgraphUrls: subgraphUrlOverrides(source) };
}
