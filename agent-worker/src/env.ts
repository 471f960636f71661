import { envFields, parseEnv, z } from '@cos/config';
import { AGENT_KINDS, type AgentKind } from '@cos/events';

/**
 * The worker's environment (read nowhere else). Secrets may come from files (`*_FILE`, as Docker and Kubernetes
 * secrets mount them; @cos/config's parseEnv): COS_API_KEY_FILE, MODEL_API_KEY_FILE.
 */
const schema = z.object({
  NODE_ENV: envFields.nodeEnv(),
  LOG_LEVEL: envFields.logLevel(),
  /** The gateway's GraphQL endpoint; the worker uses nothing else. */
  COS_GATEWAY_URL: envFields.url('http://127.0.0.1:4000/graphql'),
  /** A service account's secret (createServiceAccount), e.g. with scopes tasks:read, customers:read for the tools. */
  COS_API_KEY: z.string().min(1, 'set COS_API_KEY or COS_API_KEY_FILE (a service account secret)'),
  /** Comma-separated agent kinds this worker runs (default: all seven); `--kinds` on the command line wins. */
  WORKER_KINDS: z.string().default(AGENT_KINDS.join(',')),
  /** Runs worked at once. */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  /** Lease asked for at each claim (5..900 s); heartbeats renew it every third of it. */
  WORKER_LEASE_SECONDS: z.coerce.number().int().min(5).max(900).default(60),
  /** Claim again this often even when no agentRunQueued event arrives (a lost event or a retry's backoff). */
  WORKER_POLL_MS: envFields.ms(15_000),
  /** A name for this worker on the runs it holds (default host:pid). */
  WORKER_NAME: z.string().max(100).optional(),
  /** Per request to the gateway. */
  WORKER_GRAPH_TIMEOUT_MS: envFields.ms(10_000),
  /** How long SIGTERM waits for steps in flight before handing their runs back. */
  WORKER_DRAIN_MS: envFields.ms(20_000),
  /** /metrics and /healthz (0: off). */
  WORKER_METRICS_PORT: envFields.int(9464),
  /** rules (deterministic, default: no key needed) or openai (any OpenAI-compatible chat-completions server). */
  MODEL_PROVIDER: z.enum(['rules', 'openai']).default('rules'),
  MODEL_BASE_URL: envFields.url('https://api.openai.com/v1'),
  MODEL_API_KEY: z.string().optional(),
  MODEL_NAME: z.string().default('gpt-4o-mini'),
  /** One model call, including its tool-call round trips' requests each. */
  MODEL_TIMEOUT_MS: envFields.ms(60_000),
  /** Retries of a failed call (429, 5xx, timeouts, connection errors), exponential backoff with jitter. */
  MODEL_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(3),
  /** Consecutive failures that open the circuit breaker; it half-opens after MODEL_BREAKER_RESET_MS. */
  MODEL_BREAKER_THRESHOLD: z.coerce.number().int().min(1).default(5),
  MODEL_BREAKER_RESET_MS: envFields.ms(30_000),
  /** Tool-call rounds per step before the model must answer. */
  MODEL_MAX_TOOL_ROUNDS: z.coerce.number().int().min(0).max(20).default(5),
  /** Price per million tokens, for cost accounting on the run (0: not priced). */
  MODEL_PRICE_INPUT_PER_MTOK: z.coerce.number().min(0).default(0),
  MODEL_PRICE_OUTPUT_PER_MTOK: z.coerce.number().min(0).default(0),
  MODEL_TEMPERATURE: z.coerce.number().min(0).max(2).default(0.2),
});
export type WorkerEnv = z.infer<typeof schema> & { kinds: AgentKind[] };

export function parseKinds(raw: string): AgentKind[] {
  const kinds = raw
    .split(',')
    .map((k) => k.trim().toUpperCase())
    .filter(Boolean);
  const unknown = kinds.filter((k) => !(AGENT_KINDS as readonly string[]).includes(k));
  if (unknown.length || kinds.length === 0) {
    throw new Error(`unknown agent kinds: ${unknown.join(', ') || '(none given)'}; known: ${AGENT_KINDS.join(', ')}`);
  }
  return [...new Set(kinds)] as AgentKind[];
}

export function loadEnv(argv: string[] = process.argv.slice(2), source: NodeJS.ProcessEnv = process.env): WorkerEnv {
  const env = parseEnv(schema, source);
  const i = argv.indexOf('--kinds');
  const kindsArg = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--kinds='))?.slice('--kinds='.length);
  if (env.MODEL_PROVIDER === 'openai' && !env.MODEL_API_KEY) {
    console.error('Invalid environment:\n  MODEL_API_KEY: required with MODEL_PROVIDER=openai (or MODEL_API_KEY_FILE)');
    process.exit(1);
  }
  try {
    return { ...env, kinds: parseKinds(kindsArg ?? env.WORKER_KINDS) };
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
