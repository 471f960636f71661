import type { Principal } from '@cos/auth';
import type { ResponseCache } from './cache/response-cache';

/** Per-request context of the gateway; the data source signs `principal` into every subgraph request. */
export interface GatewayContext {
  principal: Principal;
  requestId: string;
  correlationId: string;
  /** W3C trace context from the client, forwarded as is. */
  traceparent: string | null;
  /** Subgraphs this request called (the data source adds to it); the response cache tags answers with them. */
  subgraphsTouched?: Set<string>;
  /**
   * Set by the response cache for a cacheable query: the data source reads subgraph answers from it (unless `read` is
   * false: the client asked for a fresh answer) and stores error-free ones, keyed by `principalKey`.
   */
  subgraphCache?: { cache: ResponseCache; principalKey: string; orgId: string; read: boolean };
}
