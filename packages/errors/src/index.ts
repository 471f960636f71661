import { GraphQLError } from 'graphql';

/** The stable error codes of the public contract (shared/API.md). */
export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  /**
   * An agent worker's fencing token no longer holds the run: its lease lapsed and the run was re-queued or claimed by
   * another worker, or the run moved on (waiting for approval, cancelled, finished). Nothing was written; stop working
   * on the run.
   */
  LEASE_LOST: 'LEASE_LOST',
  RATE_LIMITED: 'RATE_LIMITED',
  PERSISTED_QUERY_NOT_FOUND: 'PERSISTED_QUERY_NOT_FOUND',
  PERSISTED_QUERY_NOT_SUPPORTED: 'PERSISTED_QUERY_NOT_SUPPORTED',
  OPERATION_NOT_ALLOWED: 'OPERATION_NOT_ALLOWED',
  QUERY_TOO_COMPLEX: 'QUERY_TOO_COMPLEX',
  /**
   * A dependency the request needs is down for a moment (the identity service answering credentials, the event bus
   * behind subscriptions, the gateway not yet loaded): nothing was done; retry with backoff.
   */
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const httpStatus: Record<ErrorCode, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  LEASE_LOST: 409,
  RATE_LIMITED: 429,
  PERSISTED_QUERY_NOT_FOUND: 200,
  PERSISTED_QUERY_NOT_SUPPORTED: 200,
  OPERATION_NOT_ALLOWED: 403,
  QUERY_TOO_COMPLEX: 400,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL_SERVER_ERROR: 500,
};

/**
 * The one way to raise a client-visible error. `extensions.code` is the API.md code; `extra` adds
 * contract fields such as `field` (BAD_USER_INPUT) or `currentVersion` (CONFLICT).
 * `http.status` is only honoured by the server when the whole request fails (e.g. 401 before execution).
 */
export function appError(
  code: ErrorCode,
  message: string,
  extra: Record<string, unknown> = {},
  options: { withHttpStatus?: boolean } = {},
): GraphQLError {
  const extensions: Record<string, unknown> = { code, ...extra };
  if (options.withHttpStatus) extensions.http = { status: httpStatus[code] };
  return new GraphQLError(message, { extensions });
}

export const badInput = (field: string, message: string) =>
  appError(ErrorCode.BAD_USER_INPUT, message, { field });
export const notFound = (what: string, id?: string) =>
  appError(ErrorCode.NOT_FOUND, id ? `${what} ${id} not found` : `${what} not found`);
export const forbidden = (message = 'You are not allowed to do this') => appError(ErrorCode.FORBIDDEN, message);
export const unauthenticated = (message = 'Authentication required') =>
  appError(ErrorCode.UNAUTHENTICATED, message);
export const conflict = (message: string, currentVersion: number) =>
  appError(ErrorCode.CONFLICT, message, { currentVersion });
export const serviceUnavailable = (message: string) => appError(ErrorCode.SERVICE_UNAVAILABLE, message, {}, { withHttpStatus: true });
export const leaseLost = (runId: string, why: string) =>
  appError(ErrorCode.LEASE_LOST, `This worker no longer holds run ${runId}: ${why}`, { runId });

/** True when the error is one we raised on purpose (safe to show to a client). */
export function isAppError(err: unknown): err is GraphQLError {
  return (
    err instanceof GraphQLError &&
    typeof err.extensions?.code === 'string' &&
    err.extensions.code !== ErrorCode.INTERNAL_SERVER_ERROR &&
    (Object.values(ErrorCode) as string[]).includes(err.extensions.code)
  );
}

/** Turns zod issues (or any validation failure list) into a BAD_USER_INPUT error naming the first bad field. */
export function fromValidationIssues(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>) {
  const first = issues[0];
  const field = first ? first.path.map(String).join('.') : 'input';
  return appError(ErrorCode.BAD_USER_INPUT, first ? `${field}: ${first.message}` : 'Invalid input', {
    field,
    issues: issues.map((i) => ({ field: i.path.map(String).join('.'), message: i.message })),
  });
}
