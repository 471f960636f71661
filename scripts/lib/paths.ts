import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SERVICES = ['identity', 'tasks', 'customers', 'agents'] as const;
export type ServiceName = (typeof SERVICES)[number];
/**
 * Every Postgres schema with its own migrations: the four subgraphs and the mailer (a process with no subgraph,
 * README "Email"). Migrations, backups and restores cover them all; subgraph-only tooling (codegen, composition,
 * rebuild) uses SERVICES.
 */
export const SCHEMAS = [...SERVICES, 'mailer'] as const;
export type SchemaName = (typeof SCHEMAS)[number];
/** The folder of a schema's numbered migrations. */
export const schemaDir = (s: SchemaName): string => (s === 'mailer' ? path.join(repoRoot, 'mailer') : path.join(repoRoot, 'services', s));
/** The subgraphs listen on the four ports after the gateway's: 4001..4004 beside the default 4000. */
export const servicePortsAfter = (gatewayPort: number): Record<ServiceName, number> =>
  Object.fromEntries(SERVICES.map((s, i) => [s, gatewayPort + 1 + i])) as Record<ServiceName, number>;
export const SERVICE_PORTS: Record<ServiceName, number> = servicePortsAfter(4000);

/** The entry file of every kind of process the stack runs (the container's COS_SERVICE names, infra/docker/start.sh). */
export const PROCESS_ENTRIES = {
  ...(Object.fromEntries(SERVICES.map((s) => [s, path.join(repoRoot, 'services', s, 'src/index.ts')])) as Record<ServiceName, string>),
  gateway: path.join(repoRoot, 'gateway/src/index.ts'),
  mailer: path.join(repoRoot, 'mailer/src/index.ts'),
  'agent-worker': path.join(repoRoot, 'agent-worker/src/index.ts'),
  mcp: path.join(repoRoot, 'mcp/src/index.ts'),
} as const;

/**
 * V8 young-generation semi-space (MiB) per process. The default (16 MiB on 64-bit) makes the gateway scavenge every
 * few requests while it parses and merges ~40 KiB subgraph answers: `pnpm bench gateway` measured 7.8 -> 6.2 gateway
 * CPU-ms per request at 64 MiB (subgraphs 7.0 -> 5.8 ms at the same setting), for ~90 MiB more RSS. Subgraphs get
 * half of it. Applied by the stack launcher (pnpm start, e2e) and the container entry point (infra/docker/start.sh).
 */
export const SEMI_SPACE_MB = { gateway: 64, subgraph: 32 } as const;

/** NODE_OPTIONS with the process's V8 heap flags added to whatever the caller already sets (e.g. a profiler preload). */
export function nodeOptionsFor(kind: keyof typeof SEMI_SPACE_MB, existing?: string): string {
  return [existing, `--max-semi-space-size=${SEMI_SPACE_MB[kind]}`].filter(Boolean).join(' ');
}

/**
 * The CPUs a process started from here may use: the affinity mask (os.availableParallelism, i.e. sched_getaffinity:
 * what `taskset` or a cpuset leaves) capped by a cgroup v2 quota (`cpu.max`, "<quota> <period>" or "max <period>":
 * a container's CPU limit). Fractional under a quota (150000/100000 -> 1.5). COS_CPU_BUDGET overrides (a number).
 * The same rule as infra/docker/start.sh's, which cannot import this.
 */
export function cpuBudget(
  env: NodeJS.ProcessEnv = process.env,
  parallelism: number = availableParallelism(),
  cpuMax: string | undefined = readCpuMax(),
): number {
  const override = Number(env.COS_CPU_BUDGET);
  if (env.COS_CPU_BUDGET && Number.isFinite(override) && override > 0) return override;
  const [quota, period] = (cpuMax ?? '').trim().split(/\s+/);
  const q = Number(quota);
  const p = Number(period);
  return quota !== 'max' && q > 0 && p > 0 ? Math.min(parallelism, q / p) : parallelism;
}

function readCpuMax(): string | undefined {
  try {
    return readFileSync('/sys/fs/cgroup/cpu.max', 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * V8 flags for the gateway's command line (Node refuses them in NODE_OPTIONS), by its CPU budget. Under two CPUs:
 * `--no-concurrent-marking`. V8 marks the old generation on helper threads while JavaScript runs; with one core
 * those threads only take it from the event loop, and the mark-compact pauses are where a saturated gateway's p99
 * comes from (bench/README.md "Issue 12 ... GC and the p99": on one pinned core the flag won every Guild pair, req/s
 * +13-26 %, p99 178-255 against 207-342 ms). With two or more CPUs marking on a spare core is what V8 is built for,
 * so nothing is added. Applied by the stack launcher (./stack.ts) and the container entry point; the Guild bench
 * gives every gateway it compares the flags of its one pinned core.
 */
export function gatewayV8Flags(budget: number = cpuBudget()): string[] {
  return budget < 2 ? ['--no-concurrent-marking'] : [];
}
