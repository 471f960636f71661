import type { IncomingMessage, ServerResponse } from 'node:http';
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

/**
 * Per-request server state, typed: what the transport knows before GraphQL runs. yoga builds the GraphQL context on
 * this same object, so a field set here by an HTTP hook (useAuth's `principal`) is readable by every later hook
 * (validation rules, params, context building, execution). Core execute (core/execute.ts) starts from `{ principal }`.
 */
export interface GatewayServerContext {
  /** The node request/response when served by node:http; absent for in-process calls. */
  req?: IncomingMessage;
  res?: ServerResponse;
  /** Who is calling: set by useAuth from the credential, or by core execute; absent means anonymous. */
  principal?: Principal;
}

/** The principal of a request's server or GraphQL context (anonymous when none was authenticated). */
export const principalIn = (ctx: unknown): Principal =>
  ((ctx ?? {}) as GatewayServerContext).principal ?? { kind: 'anonymous' };
