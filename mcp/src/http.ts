/**
 * The Streamable HTTP transport, stateless: every `POST /mcp` gets its own MCP server bound to that request's
 * credential, answers with JSON, and is closed with the response. No session lives in this process, so instances
 * scale horizontally behind any load balancer (like the gateway) and a restart loses nothing.
 *
 *   POST /mcp      JSON-RPC (initialize, tools/list, tools/call …); `Authorization: ApiKey <key>` or
 *                  `X-API-Key: <key>` (a partner key), or `Authorization: Bearer <access token>` (a person),
 *                  forwarded to the gateway with every tool call; none → 401
 *   GET|DELETE /mcp  405 (no server-initiated stream, no sessions: this server only answers requests)
 *   GET /healthz   liveness; GET /readyz: 503 while draining or when the gateway is not ready; GET /metrics
 * Requests carrying an Origin header (browsers) are refused unless it is in MCP_ALLOWED_ORIGINS (the MCP spec's
 * DNS-rebinding guard).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import type { Credential } from './gateway-client';
import { createMcpServer, type McpServerDeps } from './mcp-server';
import type { ToolMetrics } from './metrics';

export const MCP_PATH = '/mcp';

export interface HttpHandlerOptions {
  deps: Omit<McpServerDeps, 'observe'>;
  metrics: ToolMetrics;
  /** Origins (scheme://host[:port]) a browser-based client may call from; empty = none. */
  allowedOrigins: readonly string[];
  /** Largest JSON-RPC body accepted (413 above). */
  maxBodyBytes: number;
}

/**
 * The caller's credential from the MCP request's headers: `Authorization: ApiKey <key>` / `X-API-Key: <key>` or
 * `Authorization: Bearer <token>`. Undefined when none is sent; an error message when one is malformed.
 */
export function credentialOf(headers: IncomingMessage['headers']): Credential | string | undefined {
  const auth = headers.authorization;
  const xKey = headers['x-api-key'];
  if (auth !== undefined) {
    const m = /^(ApiKey|Bearer)\s+(\S+)\s*$/i.exec(auth);
    if (!m) return 'The Authorization header must be "ApiKey <key>" or "Bearer <access token>"';
    return m[1]!.toLowerCase() === 'apikey' ? { kind: 'apiKey', secret: m[2]! } : { kind: 'bearer', token: m[2]! };
  }
  if (xKey !== undefined) {
    const v = (Array.isArray(xKey) ? xKey[0] : xKey)?.trim();
    return v ? { kind: 'apiKey', secret: v } : 'The X-API-Key header is empty';
  }
  return undefined;
}

function jsonRpcError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

export function createHttpHandler(opts: HttpHandlerOptions) {
  let draining = false;
  const deps: McpServerDeps = { ...opts.deps, observe: opts.metrics.observe };

  async function handleMcp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const origin = req.headers.origin;
    if (origin !== undefined && !opts.allowedOrigins.includes(origin)) {
      return jsonRpcError(res, 403, ErrorCode.InvalidRequest, `Origin ${origin} is not allowed (MCP_ALLOWED_ORIGINS)`);
    }
    if (req.method !== 'POST') {
      return jsonRpcError(res, 405, ErrorCode.InvalidRequest, 'Method not allowed: this server is stateless, send JSON-RPC with POST', { allow: 'POST' });
    }
    const credential = credentialOf(req.headers);
    if (credential === undefined || typeof credential === 'string') {
      // 401 before any JSON-RPC is processed, so a misconfigured client fails at `initialize`, not at its first call.
      const why = credential ?? 'No credential: send "Authorization: ApiKey <key>" (or "X-API-Key: <key>"), or "Authorization: Bearer <access token>"';
      return jsonRpcError(res, 401, ErrorCode.InvalidRequest, `UNAUTHENTICATED: ${why}`, { 'www-authenticate': 'ApiKey realm="company-os-graph"' });
    }
    const server = createMcpServer(deps, credential);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
      maxRequestBodySize: opts.maxBodyBytes,
    });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    const run = async () => {
      if (path === MCP_PATH) return handleMcp(req, res);
      if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 404, { error: 'not found' });
      if (path === '/healthz') return json(res, 200, { status: 'ok', service: 'mcp' });
      if (path === '/readyz') {
        if (draining) return json(res, 503, { status: 'draining' });
        return (await deps.gateway.ready()) ? json(res, 200, { status: 'ready' }) : json(res, 503, { status: 'gateway not ready' });
      }
      if (path === '/metrics') {
        const registry = opts.metrics.metrics.registry;
        res.writeHead(200, { 'content-type': registry.contentType });
        return void res.end(await registry.metrics());
      }
      return json(res, 404, { error: 'not found' });
    };
    run().catch((err: unknown) => {
      deps.log.error({ err }, 'MCP HTTP request failed');
      if (!res.headersSent) jsonRpcError(res, 500, ErrorCode.InternalError, 'Internal server error');
      else res.end();
    });
  };

  return {
    handler,
    /** Readiness answers 503 from now on (the process is shutting down). */
    drain() {
      draining = true;
    },
  };
}
