import type { Plugin } from 'graphql-yoga';
import { GRAPHQL_VALIDATION_FAILED } from '../errors';

/**
 * Validation errors never reach maskError (yoga returns them before execution), so their contract is set here:
 * code GRAPHQL_VALIDATION_FAILED unless a rule chose one (QUERY_TOO_COMPLEX from the limits), and HTTP 400 for
 * every client. yoga would mark them `http.spec` and answer 200 to `application/json` clients, which makes a
 * refused document look like a success to naive clients and to status-code based monitoring.
 */
export function useValidationErrors(): Plugin {
  return {
    onValidate() {
      return ({ valid, result }) => {
        if (valid) return;
        for (const error of result) {
          const ext = error.extensions as Record<string, unknown>;
          ext.code ??= GRAPHQL_VALIDATION_FAILED;
          const http = (ext.http ?? {}) as { status?: number; spec?: boolean };
          ext.http = { ...http, status: http.status ?? 400, spec: false };
        }
      };
    },
  };
}
