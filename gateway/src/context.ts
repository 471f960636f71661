import type { Principal } from '@cos/auth';

/** Per-request context of the gateway; the data source signs `principal` into every subgraph request. */
export interface GatewayContext {
  principal: Principal;
  requestId: string;
  correlationId: string;
  /** W3C trace context from the client, forwarded as is. */
  traceparent: string | null;
  /** Subgraphs this request called (the data source adds to it); the response cache tags answers with them. */
  subgraphsTouched?: Set<string>;
}
