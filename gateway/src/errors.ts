import { GraphQLError, Kind } from 'graphql';
import { ErrorCode } from '@cos/errors';
import type { Logger } from '@cos/logger';

/**
 * Error codes clients can see: the API.md codes, plus one for documents the gateway refuses before running them.
 *
 * Decision (documented in the gateway README section): every request/document problem — malformed JSON, missing
 * query, GraphQL syntax error, a document invalid against the schema, a mutation over GET — answers HTTP 400 (405
 * for GET mutations) with code GRAPHQL_VALIDATION_FAILED; BAD_USER_INPUT is kept for *values* (variables that do not
 * coerce, with `extensions.field` = the variable name, and the subgraphs' input validation). Document limits answer
 * QUERY_TOO_COMPLEX.
 */
export const GRAPHQL_VALIDATION_FAILED = 'GRAPHQL_VALIDATION_FAILED';

const PUBLIC_CODES = new Set<string>([...Object.values(ErrorCode), GRAPHQL_VALIDATION_FAILED]);
/** Extensions that only make sense inside the graph (gateway/subgraph internals); never sent to clients. */
const INTERNAL_EXTENSIONS = new Set(['serviceName', 'exception', 'stacktrace', 'response']);

function rebuild(err: GraphQLError, extensions: Record<string, unknown>): GraphQLError {
  const ext: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(extensions)) if (!INTERNAL_EXTENSIONS.has(k)) ext[k] = v;
  // yoga flags parse/validation errors `http.spec` and then answers 200 to application/json clients; we answer
  // their status (400) to every client, so a refused document never looks like a success.
  if (ext.http && typeof ext.http === 'object' && 'spec' in ext.http) {
    const { spec: _spec, ...http } = ext.http as Record<string, unknown>;
    ext.http = { status: 400, ...http };
  }
  return new GraphQLError(err.message, {
    nodes: err.nodes,
    source: err.source,
    positions: err.positions,
    path: err.path,
    extensions: ext,
  });
}

/**
 * yoga's maskError: subgraph and gateway errors carrying an API.md code pass unchanged (minus internal
 * extensions); request/document errors get GRAPHQL_VALIDATION_FAILED; anything else is logged with the request id
 * and answered as INTERNAL_SERVER_ERROR without message details, stack or SQL.
 */
export function createErrorMasker(log: Logger) {
  return function maskError(error: unknown, message: string): Error {
    if (error instanceof GraphQLError) {
      const ext = (error.extensions ?? {}) as Record<string, unknown>;
      const code = typeof ext.code === 'string' ? ext.code : undefined;
      if (code && PUBLIC_CODES.has(code)) return rebuild(error, ext);
      const original = error.originalError;
      if (original instanceof GraphQLError) {
        const oc = original.extensions?.code;
        if (typeof oc === 'string' && PUBLIC_CODES.has(oc)) return rebuild(original, { ...original.extensions });
      }
      const node = error.nodes?.[0];
      if (node?.kind === Kind.VARIABLE_DEFINITION) {
        return rebuild(error, { ...ext, code: ErrorCode.BAD_USER_INPUT, field: node.variable.name.value });
      }
      // graphql-js parse/validation errors and yoga's HTTP request errors: no underlying exception, safe messages.
      if (!original && (!code || code === 'GRAPHQL_PARSE_FAILED' || code === 'BAD_REQUEST')) {
        return rebuild(error, { ...ext, code: GRAPHQL_VALIDATION_FAILED, http: ext.http ?? { status: 400 } });
      }
    }
    log.error({ err: error instanceof GraphQLError ? (error.originalError ?? error) : error }, 'unexpected error (masked)');
    return new GraphQLError(message, {
      path: error instanceof GraphQLError ? error.path : undefined,
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
    });
  };
}
