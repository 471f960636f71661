import { GraphQLError, type ValidationRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Principal } from '@cos/auth';
import { ErrorCode } from '@cos/errors';
import { principalIn } from '../context';

/** Partners (API keys) never introspect; nobody does in production. `__typename` stays allowed. */
export function introspectionAllowed(principal: Principal | undefined, production: boolean): boolean {
  if (production) return false;
  return principal?.kind !== 'apiKey';
}

const noIntrospection: ValidationRule = (ctx) => ({
  Field(node) {
    if (node.name.value === '__schema' || node.name.value === '__type') {
      ctx.reportError(
        new GraphQLError('Introspection is disabled for this client', {
          nodes: [node],
          extensions: { code: ErrorCode.FORBIDDEN, http: { status: 403 } },
        }),
      );
    }
  },
});

/**
 * Introspection off for partner API keys and in production: a validation rule added per request, so an
 * introspection query is refused before anything runs. yoga validates before it builds the context, so the principal
 * comes from the typed server context useAuth (or core execute) filled. The rule's name is part of yoga's validation-cache key, so a document
 * validated for a first-party caller is never served from cache to a partner.
 */
export function useIntrospectionControl(opts: { production: boolean }): Plugin {
  return {
    onValidate({ context, addValidationRule }) {
      const principal = principalIn(context);
      if (!introspectionAllowed(principal, opts.production)) addValidationRule(noIntrospection);
    },
  };
}
