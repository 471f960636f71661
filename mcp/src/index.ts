/**
 * The MCP server: the graph's trusted documents as tools for AI assistants (see README, "MCP server").
 *   pnpm mcp            Streamable HTTP on :4010/mcp (PORT), the caller's key on every request
 *   pnpm -s mcp --stdio stdio, the key from COS_API_KEY
 * main(): env → logger → tools (manifest + supergraph, validated) → gateway client → transport.
 */
import { createLogger, toStderr } from '@cos/logger';
import { loadEnv } from './env';
import { createGatewayClient } from './gateway-client';
import { createHttpHandler, MCP_PATH } from './http';
import { runStdio, stdioCredential } from './stdio';
import { loadToolset } from './tools';

async function main() {
  const env = loadEnv();
  const flags = process.argv.slice(2);
  const transport = flags.includes('--stdio') ? 'stdio' : flags.includes('--http') ? 'http' : env.MCP_TRANSPORT;
  const log = createLogger('mcp', env.LOG_LEVEL, transport === 'stdio' ? toStderr() : undefined);
  const credential = transport === 'stdio' ? stdioCredential(env) : null;
  if (typeof credential === 'string') {
    log.fatal(credential);
    process.exit(1);
  }
  const toolset = await loadToolset(env.MCP_MANIFEST, env.SUPERGRAPH);
  const gateway = createGatewayClient({ url: env.COS_GRAPH_URL, timeoutMs: env.MCP_GATEWAY_TIMEOUT_MS });
  const deps = { toolset, gateway, log };

  if (credential) {
    await runStdio(deps, credential);
    return;
  }
  // The shared HTTP lifecycle (listen, drain, graceful stop) and the metrics registry, imported here only: they pull
  // the subgraph toolkit and OpenTelemetry in, seconds more on every stdio start (an assistant starts one per session).
  const [{ runService }, { createToolMetrics }] = await Promise.all([import('@cos/service-kit'), import('./metrics')]);
  const http = createHttpHandler({ deps, metrics: createToolMetrics(), allowedOrigins: env.MCP_ALLOWED_ORIGINS, maxBodyBytes: env.MCP_MAX_BODY_BYTES });
  await runService({ name: 'mcp', port: env.PORT, host: env.HOST, shutdownDelayMs: env.SHUTDOWN_DELAY_MS, log, handler: http.handler, onDrain: http.drain });
  log.info({ url: `http://${env.HOST}:${env.PORT}${MCP_PATH}`, gateway: env.COS_GRAPH_URL, tools: toolset.tools.map((t) => t.tool.name) }, 'MCP server ready');
}

main().catch((err: unknown) => {
  // stderr: on stdio, stdout belongs to the protocol.
  console.error('mcp failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
