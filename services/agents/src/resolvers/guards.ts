import { actorOf } from '@cos/auth';
import type { EventMetadata } from '@cos/event-store';
import { requireAuth, requireScope } from '@cos/service-kit';
import type { Context } from '../context';

/**
 * Reading agents and runs needs `agents:read` (defense in depth behind the gateway), or `agents:work`: a worker
 * reads the runs it works on (and is woken by agentRunQueued, which resolves the run with the worker's key).
 */
export const requireRead = (ctx: Context) => {
  const p = requireAuth(ctx.principal);
  return p.scopes.includes('agents:work') ? p : requireScope(p, 'agents:read');
};

/** Metadata of an event a request causes. */
export const requestMetadata = (ctx: Context): EventMetadata => ({
  actor: actorOf(ctx.principal),
  correlationId: ctx.correlationId,
  causationId: null,
  traceparent: ctx.traceparent,
});

export const iso = (d: Date | string | null): string | null => (d == null ? null : d instanceof Date ? d.toISOString() : d);
