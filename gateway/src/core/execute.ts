import { GraphQLError, getOperationAST, type DocumentNode, type ExecutionResult, type GraphQLFormattedError } from 'graphql';
import type { YogaServerInstance } from 'graphql-yoga';
import type { Principal } from '@cos/auth';
import type { GatewayContext, GatewayServerContext } from '../context';

/** An operation's answer as a client would read it (errors formatted and masked like over HTTP). */
export interface CoreResult {
  data?: Record<string, unknown> | null;
  errors?: GraphQLFormattedError[];
}

export type Execute = (
  principal: Principal,
  document: string | DocumentNode,
  variables?: Record<string, unknown>,
  operationName?: string | null,
) => Promise<CoreResult>;

const format = (e: unknown): GraphQLFormattedError =>
  e instanceof GraphQLError ? e.toJSON() : { message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } };

/**
 * Runs one operation for an already-authenticated principal through the gateway's envelop pipeline, in process, with
 * no HTTP round trip: parse/validate (with the limits, introspection and validation-error rules), context building
 * (principal, ids), authorization (@authenticated/@requiresScopes/@policy with Router semantics), error masking and
 * the plan executor — the very plugin instances HTTP requests go through. What is HTTP-only stays out: body limit,
 * credential parsing, rate limiting (per client request), persisted-document resolution (the caller brings the text),
 * and the response cache (it is keyed and filled per HTTP request; a subscription lookup answers an event that has
 * just changed the data, so it must not be read from a cache the same event is about to invalidate).
 * Queries and mutations only; subscriptions are the subscription bridge's.
 */
export function createCoreExecute(yoga: YogaServerInstance<GatewayServerContext, GatewayContext>): Execute {
  return async (principal, document, variables = {}, operationName = null) => {
    const initial: GatewayServerContext = { principal };
    const enveloped = yoga.getEnveloped(initial as never);
    let doc: DocumentNode;
    try {
      doc = typeof document === 'string' ? enveloped.parse(document) : document;
    } catch (err) {
      return { errors: [format(err)] };
    }
    const invalid = enveloped.validate(enveloped.schema, doc);
    if (invalid.length > 0) return { errors: invalid.map(format) };
    const op = getOperationAST(doc, operationName ?? undefined);
    if (!op || op.operation === 'subscription') {
      return { errors: [{ message: 'Core execute runs one query or mutation', extensions: { code: 'BAD_USER_INPUT' } }] };
    }
    const contextValue = await enveloped.contextFactory();
    const result = (await enveloped.execute({
      schema: enveloped.schema,
      document: doc,
      contextValue,
      variableValues: variables,
      operationName: operationName ?? undefined,
    })) as ExecutionResult;
    return {
      ...(result.data !== undefined ? { data: result.data as Record<string, unknown> | null } : {}),
      ...(result.errors?.length ? { errors: result.errors.map(format) } : {}),
    };
  };
}
