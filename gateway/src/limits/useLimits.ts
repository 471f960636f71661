import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import type { GraphQLError, ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { appError, ErrorCode } from '@cos/errors';

export interface LimitOptions {
  maxDepth: number;
  maxAliases: number;
  maxTokens: number;
  maxDirectives: number;
  /** graphql-armor cost: objects 2, scalars 1, times 1.5 per level of depth. */
  maxCost: number;
}

export const DEFAULT_LIMITS: LimitOptions = { maxDepth: 12, maxAliases: 15, maxTokens: 2000, maxDirectives: 20, maxCost: 5000 };

/**
 * Static document limits (graphql-armor) enforced before planning: depth, aliases, tokens (during parsing, so a
 * huge document is not even fully parsed), directives and cost. Every rejection is QUERY_TOO_COMPLEX (HTTP 400)
 * with the limit in the message. Field suggestions ("did you mean …") are blocked so the schema cannot be probed
 * by typos. `@cost`/`@listSize` aware costing plugs in here (security work).
 */
export function useLimits(limits: LimitOptions = DEFAULT_LIMITS): Plugin {
  const reject = (ctx: ValidationContext | null, err: GraphQLError) => {
    const error = appError(ErrorCode.QUERY_TOO_COMPLEX, err.message.replace(/^Syntax Error: /, ''), {}, { withHttpStatus: true });
    // Validation rules report (so every violation is listed); the token counter runs inside the parser and throws.
    if (ctx) ctx.reportError(error);
    else throw error;
  };
  const callbacks = { propagateOnRejection: false, onReject: [reject] };
  return EnvelopArmorPlugin({
    maxDepth: { n: limits.maxDepth, ...callbacks },
    maxAliases: { n: limits.maxAliases, ...callbacks },
    maxTokens: { n: limits.maxTokens, ...callbacks },
    maxDirectives: { n: limits.maxDirectives, ...callbacks },
    costLimit: { maxCost: limits.maxCost, ...callbacks },
    blockFieldSuggestion: { enabled: true },
  }) as Plugin;
}
