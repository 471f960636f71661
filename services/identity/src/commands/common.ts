import { randomUUID } from 'node:crypto';
import { actorOf, scopesForRole, type Role } from '@cos/auth';
import type { Tx } from '@cos/db';
import type { EventMetadata } from '@cos/event-store';
import type { Context } from '../context';
import type { AuthPayloadParent } from '../parents';
import { newOpaqueToken, sha256Hex } from '../auth/secrets';
import { insertRefreshToken } from '../store/refresh-token-store';

/** Event metadata for a request: the principal (or, for anonymous auth flows, the person signing in) acts. */
export function metadataFor(ctx: Context, actingUserId?: string): EventMetadata {
  const actor = ctx.principal.kind === 'anonymous' && actingUserId ? `user:${actingUserId}` : actorOf(ctx.principal);
  return { actor, correlationId: ctx.correlationId, causationId: null, traceparent: ctx.traceparent };
}

export const pgCode = (err: unknown): { code?: string; constraint?: string } =>
  (err && typeof err === 'object' ? err : {}) as { code?: string; constraint?: string };

/**
 * Commands that load a stream and append without a client-supplied expectedVersion (inviting, role changes,
 * sign-ins) retry a lost optimistic-concurrency race a few times instead of surfacing CONFLICT to the client.
 */
export async function retryOnConflict<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { extensions?: { code?: string } }).extensions?.code;
      if (code !== 'CONFLICT' || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 20 * i));
    }
  }
}

/**
 * Starts or continues a session: a refresh token (stored hashed, in `familyId`) and a signed access token.
 * Runs in the caller's transaction so the refresh token exists only if the rest committed.
 */
export async function issueSession(
  ctx: Context,
  tx: Tx,
  who: { userId: string; orgId: string; role: Role },
  familyId: string = randomUUID(),
): Promise<AuthPayloadParent> {
  const refreshToken = newOpaqueToken();
  await insertRefreshToken(tx, {
    familyId,
    tokenHash: sha256Hex(refreshToken),
    userId: who.userId,
    orgId: who.orgId,
    expiresAt: new Date(Date.now() + ctx.deps.config.refreshTokenTtlS * 1000),
  });
  const access = await ctx.deps.keys.signAccessToken(who);
  return {
    accessToken: access.token,
    refreshToken,
    expiresAt: access.expiresAt,
    userId: who.userId,
    orgId: who.orgId,
    viewer: { userId: who.userId, orgId: who.orgId, role: who.role, scopes: scopesForRole(who.role) },
  };
}
