/**
 * Private Postgres / NATS JetStream / Redis servers for the soak and chaos runs, on free ports with their data in a
 * temporary folder: the chaos run restarts them (the machine's shared servers are never touched), and the soak keeps
 * its 500 users' connections off the shared Postgres. Postgres refuses to run as root, so as root its cluster belongs
 * to the `postgres` OS user (as infra/local/ensure-services.sh does). Every server is stopped and its folder removed
 * by `stop()`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../e2e/support/test-stack';

const isRoot = process.getuid?.() === 0;

function pgBindir(): string {
  if (process.env.POSTGRES_BINDIR) return process.env.POSTGRES_BINDIR;
  const versions = readdirSync('/usr/lib/postgresql')
    .filter((v) => existsSync(`/usr/lib/postgresql/${v}/bin/postgres`))
    .sort((a, b) => Number(a) - Number(b));
  const v = versions.pop();
  if (!v) throw new Error('no PostgreSQL server in /usr/lib/postgresql/*/bin (set POSTGRES_BINDIR)');
  return `/usr/lib/postgresql/${v}/bin`;
}

/** Runs a Postgres tool, as the postgres OS user when we are root. Throws with its output on failure. */
function pgTool(bin: string, args: string[], timeoutMs = 60_000): void {
  const [cmd, argv] = isRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${path.basename(bin)} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
}

const tcpOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.setTimeout(1_000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });

async function waitPort(port: number, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await tcpOpen(port))) {
    if (Date.now() > deadline) throw new Error(`${what} not listening on :${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function waitClosed(port: number, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (await tcpOpen(port)) {
    if (Date.now() > deadline) throw new Error(`:${port} still open after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface ScratchServer {
  port: number;
  url: string;
  /** Stops the server (gracefully, or like a crash with `hard`) and starts it again on the same port and data. */
  restart(opts?: { hard?: boolean; downMs?: number }): Promise<void>;
  stop(): Promise<void>;
  pid(): number | undefined;
}

export interface ScratchServers {
  dir: string;
  postgres: ScratchServer;
  nats: ScratchServer;
  redis: ScratchServer;
  /** The env a stack (and @cos/testing's createTestDatabase) reads to use them. */
  env: { COS_PG_ADMIN_URL: string; NATS_URL: string; REDIS_URL: string };
  stop(): Promise<void>;
}

async function startPostgres(root: string, maxConnections: number, statements = false): Promise<ScratchServer> {
  const bin = pgBindir();
  const port = await freePort();
  const data = path.join(root, 'postgres');
  mkdirSync(data, { mode: 0o700 });
  if (isRoot) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    if (!uid) throw new Error('running as root needs a `postgres` OS user for the scratch cluster (useradd --system postgres)');
    chownSync(data, uid, gid);
    chownSync(root, uid, gid); // the server log lives here too
  }
  pgTool(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=trust', '-E', 'UTF8', '--no-locale'], 120_000);
  const log = path.join(root, 'postgres.log');
  const opts = `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories='' -c max_connections=${maxConnections} -c fsync=on${statements ? ' -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c pg_stat_statements.track_planning=on' : ''}`;
  const start = () => pgTool(path.join(bin, 'pg_ctl'), ['-D', data, '-l', log, '-w', '-t', '60', '-o', opts, 'start'], 90_000);
  start();
  let pid: number | undefined;
  const readPid = () => {
    try {
      pid = Number(spawnSync('head', ['-n1', path.join(data, 'postmaster.pid')], { encoding: 'utf8' }).stdout.trim()) || undefined;
    } catch {
      pid = undefined;
    }
  };
  readPid();
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    pid: () => pid,
    async restart(o = {}) {
      // immediate = every backend killed, no checkpoint: the next start runs crash recovery from the WAL.
      pgTool(path.join(bin, 'pg_ctl'), ['-D', data, '-w', '-t', '60', '-m', o.hard ? 'immediate' : 'fast', 'stop'], 90_000);
      if (o.downMs) await new Promise((r) => setTimeout(r, o.downMs));
      start();
      readPid();
    },
    async stop() {
      try {
        pgTool(path.join(bin, 'pg_ctl'), ['-D', data, '-w', '-t', '60', '-m', 'fast', 'stop'], 90_000);
      } catch {
        /* already down */
      }
    },
  };
}

/** A server run as our child process (NATS, Redis): `args(port)` builds its command line. */
async function startChild(name: string, bin: string, args: (port: number) => string[]): Promise<ScratchServer> {
  const port = await freePort();
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(bin, args(port), { stdio: 'ignore' });
    await waitPort(port, name);
  };
  const halt = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    await waitClosed(port);
  };
  await launch();
  return {
    port,
    url: '',
    pid: () => child.pid,
    async restart(o = {}) {
      await halt(o.hard ? 'SIGKILL' : 'SIGTERM');
      if (o.downMs) await new Promise((r) => setTimeout(r, o.downMs));
      await launch();
    },
    stop: () => halt('SIGTERM'),
  };
}

export async function startScratchServers(
  opts: {
    maxConnections?: number;
    /**
     * Loads pg_stat_statements (Debian's postgresql-contrib ships it): where the database's time goes, per statement,
     * with planning timed apart from execution (track_planning).
     */
    statements?: boolean;
  } = {},
): Promise<ScratchServers> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cos-scratch-'));
  chmodSync(dir, 0o755);
  const started: ScratchServer[] = [];
  try {
    const postgres = await startPostgres(dir, opts.maxConnections ?? 300, opts.statements);
    started.push(postgres);
    const natsDir = path.join(dir, 'nats');
    mkdirSync(natsDir);
    const nats = await startChild('nats-server', 'nats-server', (port) => ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', natsDir]);
    nats.url = `nats://127.0.0.1:${nats.port}`;
    started.push(nats);
    const redisDir = path.join(dir, 'redis');
    mkdirSync(redisDir);
    const redis = await startChild('redis-server', 'redis-server', (port) => [
      '--bind', '127.0.0.1', '--port', String(port), '--dir', redisDir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no',
    ]);
    redis.url = `redis://127.0.0.1:${redis.port}`;
    started.push(redis);
    return {
      dir,
      postgres,
      nats,
      redis,
      env: { COS_PG_ADMIN_URL: postgres.url, NATS_URL: nats.url, REDIS_URL: redis.url },
      async stop() {
        await Promise.allSettled([redis.stop(), nats.stop(), postgres.stop()]);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.allSettled(started.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
