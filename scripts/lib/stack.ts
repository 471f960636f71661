/**
 * Starts the whole graph as processes: four subgraphs and the gateway, and the MCP server when `mcpPort` is given.
 * Used by `pnpm start` and the e2e tests.
 * Each process gets its env explicitly (no .env magic), logs to its own file, and is stopped with SIGTERM
 * (graceful drain) then SIGKILL after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { SERVICES, SERVICE_PORTS, nodeOptionsFor, repoRoot, type ServiceName } from './paths';

export interface StackOptions {
  /** Admin URL of the project database (services derive their role URLs from it). */
  pgAdminUrl: string;
  natsUrl: string;
  redisUrl: string;
  subjectPrefix: string;
  internalSecret: string;
  gatewayPort: number;
  /** Start the MCP server (Streamable HTTP) on this port, against the gateway; none when unset. */
  mcpPort?: number;
  servicePorts?: Partial<Record<ServiceName, number>>;
  logDir: string;
  nodeEnv?: 'development' | 'test' | 'production';
  extraEnv?: Record<string, string>;
  /** Extra env for one process only. */
  perProcessEnv?: Partial<Record<ProcessName, Record<string, string>>>;
}

export type ProcessName = ServiceName | 'gateway' | 'mcp';

export interface RunningProcess {
  name: string;
  child: ChildProcess;
  port: number;
  logFile: string;
}

export interface Stack {
  processes: RunningProcess[];
  gatewayUrl: string;
  /** The MCP server's Streamable HTTP endpoint, when it was started. */
  mcpUrl?: string;
  serviceUrl(name: ServiceName): string;
  /** Stops one process (SIGTERM, then SIGKILL after `graceMs`). */
  stopProcess(name: string, graceMs?: number): Promise<void>;
  /** Starts a stopped process again with the same env. */
  restartProcess(name: string): Promise<void>;
  stop(): Promise<void>;
}

const tsxBin = path.join(repoRoot, 'node_modules/.bin/tsx');

export async function startStack(opts: StackOptions): Promise<Stack> {
  mkdirSync(opts.logDir, { recursive: true });
  const ports: Record<ServiceName, number> = { ...SERVICE_PORTS, ...opts.servicePorts };
  const common: Record<string, string> = {
    NODE_ENV: opts.nodeEnv ?? 'development',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    COS_PG_ADMIN_URL: opts.pgAdminUrl,
    NATS_URL: opts.natsUrl,
    REDIS_URL: opts.redisUrl,
    COS_SUBJECT_PREFIX: opts.subjectPrefix,
    INTERNAL_SECRET: opts.internalSecret,
    ...opts.extraEnv,
  };
  const specs: Array<{ name: ProcessName; entry: string; port: number; env: Record<string, string> }> = [
    ...SERVICES.map((name) => ({
      name,
      entry: path.join(repoRoot, 'services', name, 'src/index.ts'),
      port: ports[name],
      env: { PORT: String(ports[name]) },
    })),
    {
      name: 'gateway' as const,
      entry: path.join(repoRoot, 'gateway/src/index.ts'),
      port: opts.gatewayPort,
      env: {
        PORT: String(opts.gatewayPort),
        JWKS_URL: `http://127.0.0.1:${ports.identity}/.well-known/jwks.json`,
        ...Object.fromEntries(SERVICES.map((s) => [`SUBGRAPH_${s.toUpperCase()}_URL`, `http://127.0.0.1:${ports[s]}/graphql`])),
      },
    },
    ...(opts.mcpPort === undefined
      ? []
      : [
          {
            name: 'mcp' as const,
            entry: path.join(repoRoot, 'mcp/src/index.ts'),
            port: opts.mcpPort,
            env: { PORT: String(opts.mcpPort), MCP_TRANSPORT: 'http', COS_GRAPH_URL: `http://127.0.0.1:${opts.gatewayPort}/graphql` },
          },
        ]),
  ];

  const processes: RunningProcess[] = [];
  const launch = (spec: (typeof specs)[number]): RunningProcess => {
    const logFile = path.join(opts.logDir, `${spec.name}.log`);
    const out = createWriteStream(logFile, { flags: 'a' });
    const child = spawn(tsxBin, [spec.entry], {
      cwd: repoRoot,
      env: (() => {
        const env = { ...process.env, ...common, ...spec.env, ...(opts.perProcessEnv?.[spec.name] ?? {}) };
        if (spec.name === 'mcp') return env; // a thin client of the gateway: V8 defaults
        return { ...env, NODE_OPTIONS: nodeOptionsFor(spec.name === 'gateway' ? 'gateway' : 'subgraph', env.NODE_OPTIONS) };
      })(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(out);
    child.stderr?.pipe(out);
    return { name: spec.name, child, port: spec.port, logFile };
  };

  const stopOne = async (p: RunningProcess, graceMs = 10_000) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };

  const stack: Stack = {
    processes,
    gatewayUrl: `http://127.0.0.1:${opts.gatewayPort}/graphql`,
    ...(opts.mcpPort === undefined ? {} : { mcpUrl: `http://127.0.0.1:${opts.mcpPort}/mcp` }),
    serviceUrl: (name) => `http://127.0.0.1:${ports[name]}/graphql`,
    async stopProcess(name, graceMs) {
      const p = processes.find((x) => x.name === name);
      if (p) await stopOne(p, graceMs);
    },
    async restartProcess(name) {
      const i = processes.findIndex((x) => x.name === name);
      const spec = specs.find((s) => s.name === name);
      if (i < 0 || !spec) throw new Error(`unknown process ${name}`);
      await stopOne(processes[i]!);
      processes[i] = launch(spec);
      await waitHealthy(processes[i]!, '/healthz', 60_000);
    },
    async stop() {
      // Outside in: the MCP server (a gateway client), the gateway so no new requests reach the subgraphs, then them.
      for (const edge of ['mcp', 'gateway']) {
        const p = processes.find((x) => x.name === edge);
        if (p) await stopOne(p);
      }
      await Promise.all(processes.filter((p) => p.name !== 'gateway' && p.name !== 'mcp').map((p) => stopOne(p)));
    },
  };

  try {
    for (const spec of specs.filter((s) => s.name !== 'gateway' && s.name !== 'mcp')) processes.push(launch(spec));
    await Promise.all(processes.map((p) => waitHealthy(p, '/healthz', 90_000)));
    const gw = launch(specs.find((s) => s.name === 'gateway')!);
    processes.push(gw);
    await waitHealthy(gw, '/readyz', 90_000);
    const mcpSpec = specs.find((s) => s.name === 'mcp');
    if (mcpSpec) {
      const mcp = launch(mcpSpec);
      processes.push(mcp);
      await waitHealthy(mcp, '/readyz', 60_000);
    }
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}

/** Polls a process's health endpoint until it answers 200, failing fast if the process exits. */
export async function waitHealthy(p: RunningProcess, pathname: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (p.child.exitCode !== null) {
      throw new Error(`${p.name} exited with code ${p.child.exitCode} during start-up; see ${p.logFile}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${p.port}${pathname}`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`${p.name} not healthy on :${p.port}${pathname} after ${timeoutMs} ms; see ${p.logFile}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
