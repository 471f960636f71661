import { getOperationAST, type DocumentNode, type GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Metrics } from './metrics';

/**
 * Times every operation by name and type, and counts errors by code. Anonymous operations are labelled
 * "anonymous"; names are bounded by the schema's operations, not by user input sizes (names over 64 chars are cut).
 */
export function useOperationMetrics(metrics: Metrics): Plugin {
  return {
    onExecute({ args }) {
      const start = performance.now();
      const op = getOperationAST(args.document as DocumentNode, args.operationName ?? undefined);
      const operation = (op?.name?.value ?? 'anonymous').slice(0, 64);
      const type = op?.operation ?? 'unknown';
      return {
        onExecuteDone({ result }) {
          const errors = ('errors' in result ? (result.errors as readonly GraphQLError[] | undefined) : undefined) ?? [];
          metrics.operationDuration.observe({ operation, type, outcome: errors.length ? 'error' : 'ok' }, (performance.now() - start) / 1000);
          for (const e of errors) metrics.operationErrors.inc({ operation, code: String(e.extensions?.code ?? 'UNKNOWN') });
        },
      };
    },
  };
}
