import { randomUUID } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import type { GatewayContext } from '../context';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * Request, correlation and trace ids for the context (forwarded to subgraphs by the data source). Client-sent
 * values are kept only when well-formed, so they cannot inject into logs or headers; x-request-id is echoed.
 */
export function useRequestContext(): Plugin<Omit<GatewayContext, 'principal'>> {
  const ids = new WeakMap<Request, string>();
  return {
    onContextBuilding({ context, extendContext }) {
      // No request: an in-process operation (core execute) gets fresh ids.
      const request = (context as { request?: Request }).request;
      const h = (name: string) => request?.headers.get(name) ?? undefined;
      const given = h('x-request-id');
      const requestId = given && SAFE_ID.test(given) ? given : randomUUID();
      if (request) ids.set(request, requestId);
      const correlation = h('x-correlation-id');
      const traceparent = h('traceparent');
      extendContext({
        requestId,
        correlationId: correlation && SAFE_ID.test(correlation) ? correlation : requestId,
        traceparent: traceparent && TRACEPARENT.test(traceparent) ? traceparent : null,
      });
    },
    onResponse({ request, response }) {
      const id = ids.get(request);
      if (id) response.headers.set('x-request-id', id);
    },
  };
}
