import { GraphQLError, type ValidationRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { GRAPHQL_VALIDATION_FAILED } from '../errors';

/**
 * Subscriptions are served by the gateway's subscription bridge — graphql-ws on the WebSocket of GRAPHQL_PATH and
 * graphql-sse on SSE_PATH — never by this HTTP pipeline (@apollo/gateway executes none: it answered an opaque
 * INTERNAL_SERVER_ERROR and logged an error). Refused before anything runs, saying where to go.
 */
const noSubscriptionOverHttp =
  (ssePath: string): ValidationRule =>
  (ctx) => ({
    OperationDefinition(node) {
      if (node.operation !== 'subscription') return;
      ctx.reportError(
        new GraphQLError(
          `Subscriptions are not served over plain HTTP: use a WebSocket to this endpoint (graphql-transport-ws protocol) or server-sent events at ${ssePath} (graphql-sse)`,
          { nodes: [node] },
        ),
      );
    },
  });

/**
 * Validation errors never reach maskError (yoga returns them before execution), so their contract is set here:
 * code GRAPHQL_VALIDATION_FAILED unless a rule chose one (QUERY_TOO_COMPLEX from the limits); HTTP 400 for
 * `application/graphql-response+json` clients and 200 with `errors` for `application/json` ones, as
 * GraphQL-over-HTTP asks (`http.spec`). Subscription operations are refused here too (see noSubscriptionOverHttp).
 */
export function useValidationErrors(opts: { ssePath: string }): Plugin {
  const subscriptionRule = noSubscriptionOverHttp(opts.ssePath);
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(subscriptionRule);
      return ({ valid, result }) => {
        if (valid) return;
        for (const error of result) {
          const ext = error.extensions as Record<string, unknown>;
          ext.code ??= GRAPHQL_VALIDATION_FAILED;
          const http = (ext.http ?? {}) as { status?: number; spec?: boolean };
          ext.http = { ...http, status: http.status ?? 400, spec: true };
        }
      };
    },
  };
}
