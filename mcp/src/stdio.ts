/**
 * The stdio transport: an assistant (Claude Desktop, an IDE …) starts this process and speaks JSON-RPC over its
 * stdin/stdout; every tool call carries the credential from the environment (COS_API_KEY, or COS_ACCESS_TOKEN for a
 * person's short-lived token). Logs go to stderr: stdout is the protocol channel. The process ends when the client
 * closes stdin or sends SIGTERM/SIGINT.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Credential } from './gateway-client';
import { createMcpServer, type McpServerDeps } from './mcp-server';

/** The stdio credential from the environment, or an error message naming what to set. */
export function stdioCredential(env: { COS_API_KEY?: string; COS_ACCESS_TOKEN?: string }): Credential | string {
  if (env.COS_API_KEY && env.COS_ACCESS_TOKEN) return 'Set one of COS_API_KEY and COS_ACCESS_TOKEN, not both';
  if (env.COS_API_KEY) return { kind: 'apiKey', secret: env.COS_API_KEY };
  if (env.COS_ACCESS_TOKEN) return { kind: 'bearer', token: env.COS_ACCESS_TOKEN };
  return 'No credential: set COS_API_KEY to a partner API key (or COS_ACCESS_TOKEN to an access token)';
}

export async function runStdio(deps: McpServerDeps, credential: Credential): Promise<void> {
  const server = createMcpServer(deps, credential);
  const transport = new StdioServerTransport();
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    deps.log.info({ why }, 'MCP stdio server stopping');
    await server.close().catch(() => {});
    process.exit(0);
  };
  process.stdin.once('end', () => void stop('stdin closed'));
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  await server.connect(transport);
  deps.log.info({ tools: deps.toolset.tools.length, credential: credential.kind }, 'MCP server on stdio');
}
