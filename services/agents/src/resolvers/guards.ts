import { actorOf } from '@cos/auth';
import type { EventMetadata } from '@cos/event-store';
import { requireScope } from '@cos/service-kit';
import type { Context } from '../context';

/** Reading agents and runs needs `agents:read` (defense in depth behind the gateway). */
export const requireRead = (ctx: Context) => requireScope(ctx.principal, 'agents:read');

/** Metadata of an event a request causes. */
export const requestMetadata = (ctx: Context): EventMetadata => ({
  actor: actorOf(ctx.principal),
  correlationId: ctx.correlationId,
  causationId: null,
  traceparent: ctx.traceparent,
});

export const iso = (d: Date | string | null): string | null => (d == null ? null : d instanceof Date ? d.toISOString() : d);
