/** Resolver-side helpers: who is calling, for which tenant, and the event metadata their writes carry. */
import type { AuthenticatedPrincipal } from '@cos/auth';
import { actorOf } from '@cos/auth';
import type { EventMetadata } from '@cos/event-store';
import { badInput } from '@cos/errors';
import { decodeCursor, requireScope, validate } from '@cos/service-kit';
import { isUuid } from '@cos/db';
import type { Context } from '../context';
import type { Loaders } from '../store/loaders';
import type { Keyset } from '../store/task-store';
import { pageSize } from '../domain/inputs';

export interface Access {
  principal: AuthenticatedPrincipal;
  orgId: string;
  /** Set for people; API keys and service accounts act without a user id. */
  userId: string | null;
  loaders: Loaders;
}

function access(ctx: Context, scope: string): Access {
  const principal = requireScope(ctx.principal, scope);
  const userId = principal.kind === 'user' ? principal.userId : null;
  // createContext builds loaders for every authenticated principal.
  return { principal, orgId: principal.orgId, userId, loaders: ctx.loaders! };
}

export const reader = (ctx: Context) => access(ctx, 'tasks:read');
export const writer = (ctx: Context) => access(ctx, 'tasks:write');
export const approver = (ctx: Context) => access(ctx, 'approvals:decide');

export const tenantOf = (a: Access) => ({ orgId: a.orgId, userId: a.userId });

/** Metadata on events caused by this request. */
export function requestMetadata(ctx: Context, a: Access): EventMetadata {
  return { actor: actorOf(a.principal), correlationId: ctx.correlationId, causationId: null, traceparent: ctx.traceparent };
}

/** Who the events name as author/creator: the user id for people, else the actor string ("apiKey:<id>" ...). */
export const authorOf = (a: Access) => a.userId ?? actorOf(a.principal);

/** `first` / `after` of a connection field, validated. */
export function pageArgs(args: { first?: number | null; after?: string | null }): { first: number; after: Keyset | null } {
  const first = validate(pageSize, args.first, 'first');
  const parts = decodeCursor('after', args.after);
  if (parts === null) return { first, after: null };
  const [ts, id] = parts;
  if (typeof ts !== 'string' || Number.isNaN(Date.parse(ts)) || !isUuid(id)) {
    throw badInput('after', 'after is not a valid cursor');
  }
  return { first, after: { ts, id } };
}
