import type { Principal } from '@cos/auth';
import type { PolicyObject } from './engine';

/** A policy's verdict before planning: decided for the whole request, or per object after execution. */
export type PreDecision = 'allow' | 'deny' | 'perObject';

/** What a policy may use: the caller, and lookups memoised for the request (so one call per request). */
export interface PolicyContext {
  principal: Principal;
  /** Ids of the users who are members of the caller's current organization (one identity call per request). */
  orgMemberIds(): Promise<ReadonlySet<string>>;
}

/**
 * A @policy implementation. `pre` decides what it can from the caller alone (so an unauthorized field is removed
 * before planning); when it answers `perObject`, the field is fetched together with `requires` (aliased, hidden from
 * the client) and `decide` gets every object of the response that carries the field, in one batched call.
 */
export interface Policy {
  requires: readonly string[];
  pre(principal: Principal): PreDecision;
  decide(ctx: PolicyContext, objects: ReadonlyArray<PolicyObject>): Promise<boolean[]>;
}

export type PolicyRegistry = Readonly<Record<string, Policy>>;

/** `AuthPayload.user` is the user this very operation authenticated (signUp, login, refreshToken, acceptInvitation). */
const isAuthenticatedUser = (o: PolicyObject) => o.via?.type === 'AuthPayload' && o.via.field === 'user';

/**
 * User.email: the user themself, or an ADMIN/OWNER of the caller's current organization when the user is a member
 * of it (identity resolves email with the same rule: defense in depth). The user an AuthPayload returns is the one
 * the operation just signed in, so an anonymous signUp/login sees its own email. Partners and services never do.
 */
export const userEmailPolicy: Policy = {
  requires: ['id'],
  pre: (p) => (p.kind === 'user' || p.kind === 'anonymous' ? 'perObject' : 'deny'),
  async decide(ctx, objects) {
    const p = ctx.principal;
    if (p.kind !== 'user') return objects.map(isAuthenticatedUser);
    const admin = p.role === 'ADMIN' || p.role === 'OWNER';
    const others = objects.some((o) => o.fields.id !== p.userId && !isAuthenticatedUser(o));
    const members = admin && others ? await ctx.orgMemberIds() : new Set<string>();
    return objects.map(
      (o) => isAuthenticatedUser(o) || o.fields.id === p.userId || (admin && typeof o.fields.id === 'string' && members.has(o.fields.id)),
    );
  },
};

export const DEFAULT_POLICIES: PolicyRegistry = { user_email: userEmailPolicy };
