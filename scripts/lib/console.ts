/** The web console (apps/console) as a stack process: `pnpm start` and the browser tests start it the same way. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './paths';
import type { ExtraProcessSpec } from './stack';

/** Builds the console (Vite) into apps/console/dist; throws with the build's output when it fails. */
export function buildConsole(): void {
  // NODE_ENV=production whatever the caller runs under (vitest sets `test`, which would bundle React's development
  // build): the browser tests test what ships.
  const r = spawnSync('pnpm', ['--filter', '@cos/console', 'exec', 'vite', 'build', '--logLevel', 'warn'], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, NODE_ENV: 'production' },
  });
  if (r.status !== 0) throw new Error(`the console build failed:\n${r.stdout}\n${r.stderr}`);
}

/** The console's static server (apps/console/server.ts) on `port`, pointing browsers at `gatewayUrl`. */
export function consoleProcess(opts: { port: number; gatewayUrl: string; host?: string }): ExtraProcessSpec {
  return {
    name: 'console',
    entry: path.join(repoRoot, 'apps/console/server.ts'),
    env: { PORT: String(opts.port), HOST: opts.host ?? '127.0.0.1', GATEWAY_URL: opts.gatewayUrl },
    health: { port: opts.port, path: '/healthz' },
  };
}
