import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '@cos/logger';
import { GatewayUnavailableError, type Credential, type GatewayClient } from './gateway-client';
import { answerToResult, errorResult, McpErrorCode } from './results';
import type { Toolset } from './tools';

export const SERVER_INFO = { name: 'company-os-graph', version: '0.1.0' } as const;

/** What an assistant is told about these tools when it connects (MCP `instructions`). */
export const INSTRUCTIONS = [
  "Tools over the Company OS graph: the organization's customers (health scores, churn risk, signals), tasks,",
  'human approvals and AI agents. Every call runs with the credential this connection was opened with, so you see',
  'and change only what it may: a FORBIDDEN error means the credential lacks the permission (say so, do not retry);',
  'BAD_USER_INPUT names the argument to fix; RATE_LIMITED says how long to wait. Ids come from the answers of other',
  'tools (list or find first). Lists are paged: pass pageInfo.endCursor as `after` for the next page.',
].join(' ');

export interface McpServerDeps {
  toolset: Toolset;
  gateway: GatewayClient;
  log: Logger;
  /** Reports each finished call (the HTTP transport's /metrics; see metrics.ts). */
  observe?: (tool: string, outcome: string, seconds: number) => void;
}

/**
 * An MCP server (tools only) whose tool calls run through the gateway with `credential`. One per connection: per
 * HTTP request in the stateless Streamable HTTP transport, once per process for stdio.
 */
export function createMcpServer(deps: McpServerDeps, credential: Credential): Server {
  const server = new Server(SERVER_INFO, { capabilities: { tools: { listChanged: false } }, instructions: INSTRUCTIONS });

  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: deps.toolset.tools.map((t) => t.tool) }));

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const { name, arguments: args } = request.params;
    const tool = deps.toolset.get(name);
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    const started = performance.now();
    const requestId = randomUUID();
    const done = (result: CallToolResult, outcome: string) => {
      const seconds = (performance.now() - started) / 1000;
      deps.observe?.(name, outcome, seconds);
      deps.log.info({ tool: name, outcome, ms: Math.round(seconds * 1000), requestId, credential: credential.kind }, 'tool call');
      return result;
    };

    const invalid = tool.check(args ?? {});
    if (invalid) {
      return done(errorResult([{ code: 'BAD_USER_INPUT', message: `Invalid arguments: ${invalid.replace(/(^|, )data\b/g, '$1arguments')}` }]), 'BAD_USER_INPUT');
    }
    try {
      const answer = await deps.gateway.execute(tool.operation, args ?? {}, credential, { signal: extra.signal, requestId });
      const result = answerToResult(answer);
      const code = (result.structuredContent as { errors?: Array<{ code: string }> }).errors?.[0]?.code;
      return done(result, result.isError ? (code ?? 'error') : code ? 'partial' : 'ok');
    } catch (err) {
      if (!(err instanceof GatewayUnavailableError)) throw err;
      const maybeApplied = err.outcomeUnknown && tool.operation.type === 'mutation' ? ' The change may or may not have been applied: check before retrying.' : '';
      return done(errorResult([{ code: McpErrorCode.GATEWAY_UNAVAILABLE, message: `${err.message}.${maybeApplied}` }]), McpErrorCode.GATEWAY_UNAVAILABLE);
    }
  });

  return server;
}
