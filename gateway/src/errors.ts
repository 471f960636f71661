import { GraphQLError, Kind } from 'graphql';
import { ErrorCode } from '@cos/errors';
import type { YogaLogger } from 'graphql-yoga';
import type { Logger } from '@cos/logger';

/**
 * Error codes clients can see: the API.md codes, plus one for documents the gateway refuses before running them.
 *
 * Every request/document problem — malformed JSON, missing query, GraphQL syntax error, a document invalid against
 * the schema, a mutation over GET — has code GRAPHQL_VALIDATION_FAILED; BAD_USER_INPUT is kept for *values*
 * (variables that do not coerce, with `extensions.field` = the variable name, and the subgraphs' input validation).
 * Document limits answer QUERY_TOO_COMPLEX. HTTP status, as GraphQL-over-HTTP asks: a request that is not
 * well-formed (body not JSON, no query) is 400 (405 for GET mutations) for every client; a document that does not
 * parse or validate is 400 for `application/graphql-response+json` and 200 with `errors` for `application/json`
 * (yoga's `http.spec` flag, see documentError).
 */
export const GRAPHQL_VALIDATION_FAILED = 'GRAPHQL_VALIDATION_FAILED';

/** Every code a client can see (README "Errors" lists each one; scripts/test/readme.test.ts checks it). */
export const PUBLIC_CODES: ReadonlySet<string> = new Set<string>([...Object.values(ErrorCode), GRAPHQL_VALIDATION_FAILED]);
/** Extensions that only make sense inside the graph (gateway/subgraph internals); never sent to clients. */
const INTERNAL_EXTENSIONS = new Set(['serviceName', 'exception', 'stacktrace', 'response']);

/**
 * yoga's `http.spec` flag: answer 200 to `application/json` clients, the status to `application/graphql-response+json`
 * ones. Kept for documents that do not parse or validate (the spec's SHOULD); a request that is not well-formed
 * (yoga's BAD_REQUEST: body not JSON, params missing) is 400 for everyone.
 */
const documentError = (ext: Record<string, unknown>) => {
  const http = (ext.http ?? {}) as Record<string, unknown>;
  return { ...http, status: typeof http.status === 'number' ? http.status : 400, spec: true };
};
const requestError = (ext: Record<string, unknown>) => {
  const { spec: _spec, ...http } = (ext.http ?? {}) as Record<string, unknown>;
  return { ...http, status: typeof http.status === 'number' ? http.status : 400 };
};

function rebuild(err: GraphQLError, extensions: Record<string, unknown>): GraphQLError {
  const ext: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(extensions)) if (!INTERNAL_EXTENSIONS.has(k)) ext[k] = v;
  return new GraphQLError(err.message, {
    nodes: err.nodes,
    source: err.source,
    positions: err.positions,
    path: err.path,
    extensions: ext,
  });
}

export interface ErrorHandling {
  /** yoga's `maskedErrors.maskError`. */
  maskError(error: unknown, message: string): Error;
  /** yoga's `logging`: what it logs goes to pino, minus its second report of every error maskError handled. */
  logger: YogaLogger;
}

/**
 * How the gateway answers and logs errors, in one place.
 *
 * maskError: subgraph and gateway errors carrying an API.md code pass unchanged (minus internal extensions);
 * request/document errors get GRAPHQL_VALIDATION_FAILED; anything else is answered as INTERNAL_SERVER_ERROR without
 * message details, stack or SQL.
 *
 * Logging follows whose fault it is, so that an error-level line (and the alerts on it) means the system is at
 * fault: a client's mistake (wrong password, an email already taken, invalid JSON, a document the schema refuses)
 * is logged at info with its code; an INTERNAL_SERVER_ERROR passed on from where it was raised (and logged) at
 * warn; an unexpected error once at error with its stack. yoga also reports every error whose masked form differs
 * from it — every error here, since even the passed-on ones are rebuilt without internal extensions — to its logger
 * at level error; those reports come back through `logger` and are dropped, as maskError logged them already.
 */
export function createErrorHandling(log: Logger): ErrorHandling {
  const handled = new WeakSet<object>();
  const logged = (error: unknown) => {
    if (typeof error === 'object' && error !== null) handled.add(error);
  };
  const isPublic = (code: unknown): code is string => typeof code === 'string' && PUBLIC_CODES.has(code);
  /** What the client sees for an error of a known kind; logged by whose fault it is. */
  const answer = (error: unknown, out: GraphQLError): GraphQLError => {
    logged(error);
    if (out.extensions.code === ErrorCode.INTERNAL_SERVER_ERROR) {
      // Raised as INTERNAL_SERVER_ERROR where it happened (a subgraph's masking, the data source's "service
      // unavailable"), which logged it at error with its details and request id: here it is only passed on.
      log.warn({ code: out.extensions.code, path: out.path }, out.message);
    } else {
      log.info({ code: out.extensions.code, path: out.path }, out.message);
    }
    return out;
  };

  function maskError(error: unknown, message: string): Error {
    if (error instanceof GraphQLError) {
      const ext = (error.extensions ?? {}) as Record<string, unknown>;
      const code = typeof ext.code === 'string' ? ext.code : undefined;
      if (isPublic(code)) return answer(error, rebuild(error, ext));
      const original = error.originalError;
      if (original instanceof GraphQLError && isPublic(original.extensions?.code)) {
        return answer(error, rebuild(original, { ...original.extensions }));
      }
      const node = error.nodes?.[0];
      if (node?.kind === Kind.VARIABLE_DEFINITION) {
        return answer(error, rebuild(error, { ...ext, code: ErrorCode.BAD_USER_INPUT, field: node.variable.name.value }));
      }
      // graphql-js parse/validation errors and yoga's HTTP request errors: no underlying exception, safe messages.
      if (!original && (!code || code === 'GRAPHQL_PARSE_FAILED' || code === 'BAD_REQUEST')) {
        const http = code === 'BAD_REQUEST' ? requestError(ext) : documentError(ext);
        return answer(error, rebuild(error, { ...ext, code: GRAPHQL_VALIDATION_FAILED, http }));
      }
    }
    logged(error);
    log.error({ err: error instanceof GraphQLError ? (error.originalError ?? error) : error }, 'unexpected error (masked)');
    return new GraphQLError(message, {
      path: error instanceof GraphQLError ? error.path : undefined,
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
    });
  }

  const text = (args: unknown[]) => args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ');
  return {
    maskError,
    logger: {
      debug: (...args: unknown[]) => log.debug(text(args)),
      info: (...args: unknown[]) => log.info(text(args)),
      warn: (...args: unknown[]) => log.warn(text(args)),
      error: (...args: unknown[]) => {
        if (args.length === 1 && typeof args[0] === 'object' && args[0] !== null && handled.has(args[0])) return;
        const err = args.find((a) => a instanceof Error);
        log.error(err ? { err } : {}, text(args));
      },
    },
  };
}
