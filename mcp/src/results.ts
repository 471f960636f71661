/**
 * Gateway answers → MCP tool results. A failed call is a tool error (`isError: true`, which the assistant reads and
 * can act on), never a protocol error, and it carries the graph's stable code (API.md) first in its text and in
 * `structuredContent.errors[].code`, e.g. `FORBIDDEN: …`. Results are the GraphQL response shape (`data`, and
 * `errors` for fields that failed while the rest succeeded), as compact JSON text and as structured content.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { GatewayAnswer, GraphQLErrorJson } from './gateway-client';

/** Codes the MCP server adds to the graph's (API.md) for failures that have no GraphQL answer. */
export const McpErrorCode = {
  /** The gateway could not be reached, did not answer in time, or answered something that is not GraphQL. */
  GATEWAY_UNAVAILABLE: 'GATEWAY_UNAVAILABLE',
} as const;

/** A tool error as the assistant sees it in structuredContent.errors. */
export interface ToolError {
  code: string;
  message: string;
  path?: ReadonlyArray<string | number>;
  /** BAD_USER_INPUT: the offending argument. */
  field?: string;
  /** CONFLICT: the current version to retry with. */
  currentVersion?: number;
  /** RATE_LIMITED: seconds to wait. */
  retryAfterS?: number;
}

function toolError(e: GraphQLErrorJson, retryAfterS?: number): ToolError {
  const ext = e.extensions ?? {};
  const code = typeof ext.code === 'string' ? ext.code : 'INTERNAL_SERVER_ERROR';
  return {
    code,
    message: e.message,
    ...(e.path?.length ? { path: e.path } : {}),
    ...(typeof ext.field === 'string' ? { field: ext.field } : {}),
    ...(typeof ext.currentVersion === 'number' ? { currentVersion: ext.currentVersion } : {}),
    ...(code === 'RATE_LIMITED' && retryAfterS !== undefined ? { retryAfterS } : {}),
  };
}

/** "FORBIDDEN: Missing scope (at createTask)": the code first, so it is what an assistant (and a person) reads. */
function errorLine(e: ToolError): string {
  const where = e.path?.length ? ` (at ${e.path.join('.')})` : e.field ? ` (argument ${e.field})` : '';
  const wait = e.retryAfterS !== undefined ? ` Retry after ${e.retryAfterS} s.` : '';
  const version = e.currentVersion !== undefined ? ` The current version is ${e.currentVersion}.` : '';
  return `${e.code}: ${e.message}${where}${version}${wait}`;
}

/** A tool error result with these errors. */
export function errorResult(errors: ToolError[], data?: Record<string, unknown> | null): CallToolResult {
  return {
    isError: true,
    content: [{ type: 'text', text: errors.map(errorLine).join('\n') }],
    structuredContent: { errors, ...(data ? { data } : {}) },
  };
}

/** Nothing came back: every root field null (or no data at all). */
const nothing = (data: Record<string, unknown> | null | undefined) => !data || Object.values(data).every((v) => v === null);

/**
 * The tool result of a gateway answer: an error when the gateway refused the request or no root field has a value
 * while there are errors; otherwise the data, with the errors of the fields that failed (partial results: e.g. a
 * field the key may not see is null with FORBIDDEN at its path, the rest is there).
 */
export function answerToResult(answer: GatewayAnswer): CallToolResult {
  const errors = (answer.errors ?? []).map((e) => toolError(e, answer.retryAfterS));
  if (errors.length && (answer.httpStatus >= 400 || nothing(answer.data))) return errorResult(errors, answer.data);
  if (errors.length === 0 && answer.httpStatus >= 400) {
    return errorResult([{ code: McpErrorCode.GATEWAY_UNAVAILABLE, message: `The gateway answered HTTP ${answer.httpStatus}` }]);
  }
  const structured = { data: answer.data ?? null, ...(errors.length ? { errors } : {}) };
  return { content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured };
}
