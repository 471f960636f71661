/** The MCP server (Streamable HTTP) as a process next to a stack (`pnpm start`, e2e tests); see README "MCP server". */
import path from 'node:path';
import { repoRoot } from './paths';
import type { ExtraProcessSpec } from './stack';

/** Ready (`/readyz`: it answers and the gateway is ready) before the start resolves. `env` overrides. */
export function mcpProcess(opts: { gatewayUrl: string; port: number; env?: Record<string, string> }): ExtraProcessSpec {
  return {
    name: 'mcp',
    entry: path.join(repoRoot, 'mcp/src/index.ts'),
    args: ['--http'],
    env: { PORT: String(opts.port), COS_GRAPH_URL: opts.gatewayUrl, ...opts.env },
    health: { port: opts.port, path: '/readyz' },
  };
}
