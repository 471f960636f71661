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
