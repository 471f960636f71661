/**
 * Starts the whole graph as processes: four subgraphs, the gateway and (optionally) the mailer. Used by `pnpm start`
 * and the e2e tests.
 * Each process gets its env explicitly (no .env magic), logs to its own file, and is stopped with SIGTERM
 * (graceful drain) then SIGKILL after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildAll, bundlePath } from './bundle';
import { SERVICES, SERVICE_PORTS, gatewayV8Flags, nodeOptionsFor, repoRoot, type ServiceName } from './paths';

export interface StackOptions {
  /** Admin URL of the project database (services derive their role URLs from it). */
  pgAdminUrl: string;
  natsUrl: string;
  redisUrl: string;
  subjectPrefix: string;
  internalSecret: string;
  gatewayPort: number;
  servicePorts?: Partial<Record<ServiceName, number>>;
  logDir: string;
  nodeEnv?: 'development' | 'test' | 'production';
  extraEnv?: Record<string, string>;
  /** Extra env for one process only. */
  perProcessEnv?: Partial<Record<ServiceName | 'gateway' | 'mailer', Record<string, string>>>;
  /**
   * The mailer (README "Email") on this port, started with the subgraphs. Absent: no mailer process.
   */
  mailerPort?: number;
}

export interface RunningProcess {
  name: string;
  child: ChildProcess;
  port: number;
  logFile: string;
}

/** A process started next to the stack once it is up (an agent worker, a tool server): same common env. */
export interface ExtraProcessSpec {
  name: string;
  entry: string;
  env: Record<string, string>;
  args?: string[];
  /** Port and path to wait for (200) before the start resolves; none: started as soon as spawned. */
  health?: { port: number; path: string };
}

export interface Stack {
  processes: RunningProcess[];
  gatewayUrl: string;
  serviceUrl(name: ServiceName): string;
  /** Starts an extra process; it is stopped first when the stack stops (before the gateway). */
  startProcess(spec: ExtraProcessSpec): Promise<RunningProcess>;
  /** Stops one process (SIGTERM, then SIGKILL after `graceMs`). */
  stopProcess(name: string, graceMs?: number): Promise<void>;
  /** Starts a stopped process again with the same env. */
  restartProcess(name: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Each process is `node <bundle>` (./bundle.ts: the entry and our packages built into one file with esbuild, kept
 * fresh against the sources) or, with COS_RUN_TS=1, `node --import tsx <entry>`. Either way one process that receives
 * the signals itself. Through tsx's CLI (a parent relaying signals to a child) a SIGTERM or SIGINT the child does not
 * acknowledge within ~60 ms — a busy machine, every process stopping at once — makes the parent SIGKILL it and exit
 * 130, which skipped the drain. A SIGKILL sent by a test reaches the program itself too. (infra/docker/start.sh
 * starts processes the same way.) Source maps (stack traces naming the .ts lines) are on except in tests, where
 * parsing them costs ~0.3 s of start-up per process. The gateway's V8 flags for its CPU budget (paths.ts
 * gatewayV8Flags) go on its command line, where Node accepts them.
 */
const runFromSource = process.env.COS_RUN_TS === '1';
export function nodeCommand(name: string, entry: string, args: string[], nodeEnv: string): { command: string; args: string[] } {
  const v8Flags = name === 'gateway' ? gatewayV8Flags() : [];
  if (runFromSource) return { command: process.execPath, args: [...v8Flags, '--import', 'tsx', entry, ...args] };
  const maps = nodeEnv === 'test' ? [] : ['--enable-source-maps'];
  return { command: process.execPath, args: [...v8Flags, ...maps, bundlePath(entry), ...args] };
}
const prepare = (entries: string[]) => (runFromSource ? Promise.resolve([]) : buildAll(entries));

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
  const specs: Array<{ name: string; entry: string; port: number; env: Record<string, string>; args?: string[]; health?: ExtraProcessSpec['health'] }> = [
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
  ];
  if (opts.mailerPort !== undefined) {
    specs.unshift({ name: 'mailer', entry: path.join(repoRoot, 'mailer/src/index.ts'), port: opts.mailerPort, env: { PORT: String(opts.mailerPort) } });
  }

  const processes: RunningProcess[] = [];
  const extras = new Set<string>();
  const launch = (spec: (typeof specs)[number]): RunningProcess => {
    const logFile = path.join(opts.logDir, `${spec.name}.log`);
    const out = createWriteStream(logFile, { flags: 'a' });
    const { command, args } = nodeCommand(spec.name, spec.entry, spec.args ?? [], common.NODE_ENV!);
    const child = spawn(command, args, {
      cwd: repoRoot,
      env: (() => {
        if (extras.has(spec.name)) {
          // Extra processes (worker, MCP server, console) are clients of the gateway: they get neither the internal
          // secret nor the database, only what their spec names.
          const { INTERNAL_SECRET: _s, COS_PG_ADMIN_URL: _d, DATABASE_URL: _u, ...inherited } = process.env;
          return { ...inherited, NODE_ENV: common.NODE_ENV!, LOG_LEVEL: common.LOG_LEVEL!, ...spec.env };
        }
        const env = { ...process.env, ...common, ...spec.env, ...(opts.perProcessEnv?.[spec.name as ServiceName | 'gateway' | 'mailer'] ?? {}) };
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
    serviceUrl: (name) => `http://127.0.0.1:${ports[name]}/graphql`,
    async startProcess(spec) {
      const full = { ...spec, port: spec.health?.port ?? 0 };
      specs.push(full);
      extras.add(spec.name);
      await prepare([spec.entry]);
      const p = launch(full);
      processes.push(p);
      if (spec.health) await waitHealthy(p, spec.health.path, 60_000);
      return p;
    },
    async stopProcess(name, graceMs) {
      const p = processes.find((x) => x.name === name);
      if (p) await stopOne(p, graceMs);
    },
    async restartProcess(name) {
      const i = processes.findIndex((x) => x.name === name);
      const spec = specs.find((s) => s.name === name);
      if (i < 0 || !spec) throw new Error(`unknown process ${name}`);
      await prepare([spec.entry]);
      await stopOne(processes[i]!);
      processes[i] = launch(spec);
      if (!extras.has(name)) await waitHealthy(processes[i]!, '/healthz', 60_000);
      else if (spec.health) await waitHealthy(processes[i]!, spec.health.path, 60_000);
    },
    async stop() {
      // Extra processes first (a worker hands its runs back through the gateway), then the gateway so no new
      // requests reach the subgraphs, then the subgraphs.
      await Promise.all(processes.filter((p) => extras.has(p.name)).map((p) => stopOne(p)));
      const gw = processes.find((p) => p.name === 'gateway');
      if (gw) await stopOne(gw);
      await Promise.all(processes.filter((p) => p.name !== 'gateway' && !extras.has(p.name)).map((p) => stopOne(p)));
    },
  };

  try {
    await prepare(specs.map((s) => s.entry));
    for (const spec of specs.filter((s) => s.name !== 'gateway')) processes.push(launch(spec));
    await Promise.all(processes.map((p) => waitHealthy(p, '/healthz', 90_000)));
    const gw = launch(specs.find((s) => s.name === 'gateway')!);
    processes.push(gw);
    await waitHealthy(gw, '/readyz', 90_000);
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}

/** The end of a process's log (what it said before dying), for errors that outlive the log folder. */
function logTail(file: string, maxChars = 2_000): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.slice(-maxChars).trimEnd() || '(empty)';
  } catch {
    return '(no log)';
  }
}

/** Polls a process's health endpoint until it answers 200, failing fast if the process exits. */
export async function waitHealthy(p: RunningProcess, pathname: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (p.child.exitCode !== null) {
      throw new Error(`${p.name} exited with code ${p.child.exitCode} during start-up; see ${p.logFile}. Its last lines:\n${logTail(p.logFile)}`);
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
