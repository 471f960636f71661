import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { isUuid, type Db } from '@cos/db';
import { appError, badInput, ErrorCode, forbidden, unauthenticated } from '@cos/errors';
import { SYSTEM_ORG_ID, streamTypeOf } from '@cos/events';
import { validate } from '@cos/service-kit';
import type { Context } from '../context';
import type { AuthPayloadParent } from '../parents';
import { burnPasswordCheck, hashPassword, verifyPassword } from '../auth/passwords';
import { sha256Hex } from '../auth/secrets';
import { decideInvitation, invitationAggregate, invitationStream } from '../domain/invitation';
import { decideOrganization, initialOrganization, organizationAggregate, organizationStream, slugify } from '../domain/organization';
import { decideUser, initialUser, loginAttemptStream, passwordProblem, userStream } from '../domain/user';
import { DEFAULT_LOGIN_THROTTLE, DEFAULT_REFRESH_REUSE_GRACE_S } from '../deps';
import { finishLoginAttempt, reserveLoginAttempt } from '../store/login-attempts-store';
import { eventStore } from '../projector';
import {
  invitationByTokenHash,
  membershipForLogin,
  passwordHashOf,
  setPasswordHash,
  slugExists,
  userByEmail,
  userById,
} from '../store/identity-store';
import {
  currentRole,
  markRefreshTokenUsed,
  refreshTokenForUpdate,
  withinReuseGrace,
  revokeRefreshFamily,
} from '../store/refresh-token-store';
import { issueSession, metadataFor, pgCode, retryOnConflict } from './common';

export const emailSchema = z.string().trim().toLowerCase().max(254).email('must be a valid email address');
export const nameSchema = z.string().trim().min(1, 'must not be empty').max(100);

const signUpSchema = z.object({
  email: emailSchema,
  password: z.string(),
  name: nameSchema,
  organizationName: nameSchema,
});

function checkPassword(password: string, field = 'password') {
  const problem = passwordProblem(password);
  if (problem) throw badInput(field, problem);
}

const invalidCredentials = () => unauthenticated('Invalid email or password');

async function freeSlug(systemDb: Db, name: string): Promise<string> {
  const base = slugify(name);
  if (!(await systemDb.withClient((tx) => slugExists(tx, base)))) return base;
  for (;;) {
    const candidate = `${base}-${randomBytes(3).toString('hex')}`;
    if (!(await systemDb.withClient((tx) => slugExists(tx, candidate)))) return candidate;
  }
}

/** A new person and their new organization, with them as its OWNER. */
export async function signUp(ctx: Context, raw: unknown): Promise<AuthPayloadParent> {
  const input = validate(signUpSchema, raw);
  checkPassword(input.password);
  const { db, systemDb } = ctx.deps;
  const taken = () => badInput('email', 'An account with this email already exists');
  if (await systemDb.withClient((tx) => userByEmail(tx, input.email))) throw taken();
  const passwordHash = await hashPassword(input.password);
  const userId = randomUUID();
  const orgId = randomUUID();
  for (let attempt = 0; ; attempt++) {
    const slug = await freeSlug(systemDb, input.organizationName);
    try {
      return await db.tx({ orgId, userId }, async (tx) => {
        const metadata = metadataFor(ctx, userId);
        await eventStore.append(tx, {
          orgId,
          streamId: userStream(userId),
          streamType: streamTypeOf('identity', 'User'),
          expectedVersion: 0,
          events: decideUser({ type: 'RegisterUser', userId, email: input.email, name: input.name }, initialUser),
          metadata,
        });
        await eventStore.append(tx, {
          orgId,
          streamId: organizationStream(orgId),
          streamType: streamTypeOf('identity', 'Organization'),
          expectedVersion: 0,
          events: decideOrganization(
            { type: 'CreateOrganization', organizationId: orgId, name: input.organizationName, slug, ownerId: userId, ownerName: input.name },
            initialOrganization,
          ),
          metadata,
        });
        await setPasswordHash(tx, userId, passwordHash);
        return issueSession(ctx, tx, { userId, orgId, role: 'OWNER' });
      });
    } catch (err) {
      const { code, constraint } = pgCode(err);
      if (code === '23505' && constraint === 'users_email_key') throw taken();
      // Another sign-up took the same slug between our check and insert: pick another.
      if (code === '23505' && constraint === 'organizations_slug_key' && attempt < 3) continue;
      throw err;
    }
  }
}

/**
 * Email + password. Unknown email and wrong password answer the same error after the same argon2 work (no
 * account enumeration). Signs in to `organizationId`, or to the person's oldest membership.
 * Throttled per account (the email, whether or not it exists) and per client IP (`principal.ip`, forwarded by the
 * gateway) with a sliding window in Postgres: RATE_LIMITED with `extensions.retryAfter` (seconds). Every failure is
 * a LoginFailed event (audit): in the organization the person would have signed in to, or SYSTEM_ORG_ID when the
 * email is unknown.
 */
export async function login(ctx: Context, email: string, password: string, organizationId: string | null | undefined) {
  if (organizationId != null && !isUuid(organizationId)) throw badInput('organizationId', 'organizationId is not a valid id');
  const { systemDb } = ctx.deps;
  const normalized = email.trim().toLowerCase();
  const ip = ctx.principal.ip ?? null;
  const limits = ctx.deps.config.loginThrottle ?? DEFAULT_LOGIN_THROTTLE;
  const reservation = await systemDb.tx({ orgId: null }, (tx) =>
    reserveLoginAttempt(tx, { attemptId: randomUUID(), account: sha256Hex(`login:${normalized}`), ip }, limits),
  );
  if (!reservation.ok) {
    ctx.log.warn({ scope: reservation.scope, ip }, 'sign-in throttled');
    throw appError(ErrorCode.RATE_LIMITED, 'Too many sign-in attempts; try again later', { retryAfter: reservation.retryAfterS });
  }
  const { attemptId } = reservation;
  const user = normalized.length <= 254 && password.length <= 1024 ? await systemDb.withClient((tx) => userByEmail(tx, normalized)) : undefined;
  if (!user || !user.passwordHash) {
    await burnPasswordCheck(password);
    await recordLoginFailure(ctx, { attemptId, userId: null, reason: 'invalid_credentials', orgId: SYSTEM_ORG_ID, ip });
    throw invalidCredentials();
  }
  const auditOrgOf = async () =>
    (await systemDb.withClient(
      async (tx) => (organizationId ? await membershipForLogin(tx, user.id, organizationId) : undefined) ?? membershipForLogin(tx, user.id, null),
    ))?.orgId ?? SYSTEM_ORG_ID;
  if (!(await verifyPassword(user.passwordHash, password))) {
    await recordLoginFailure(ctx, { attemptId, userId: user.id, reason: 'invalid_credentials', orgId: await auditOrgOf(), ip });
    throw invalidCredentials();
  }
  const membership = await systemDb.withClient((tx) => membershipForLogin(tx, user.id, organizationId ?? null));
  if (!membership) {
    // The password was right: this does not count against the account's throttle.
    await recordLoginFailure(ctx, { attemptId, userId: user.id, reason: 'not_a_member', orgId: await auditOrgOf(), ip }, 'success');
    throw forbidden(organizationId ? 'You are not a member of this organization' : 'You do not belong to any organization');
  }
  // The User stream spans organizations (sign-ins land in the organization signed in to), so it is appended
  // through the system role, which sees the whole stream's version.
  return retryOnConflict(() =>
    systemDb.tx({ orgId: membership.orgId, userId: user.id }, async (tx) => {
      const version = await eventStore.streamVersion(tx, userStream(user.id));
      await eventStore.append(tx, {
        orgId: membership.orgId,
        streamId: userStream(user.id),
        streamType: streamTypeOf('identity', 'User'),
        expectedVersion: version,
        events: decideUser({ type: 'RecordLogin', userId: user.id }, { ...initialUser, exists: version > 0 }),
        metadata: metadataFor(ctx, user.id),
      });
      await finishLoginAttempt(tx, attemptId, 'success');
      return issueSession(ctx, tx, { userId: user.id, orgId: membership.orgId, role: membership.role });
    }),
  );
}

/** A LoginFailed event (its own one-event stream) and the throttle row's outcome, in one transaction. */
async function recordLoginFailure(
  ctx: Context,
  f: { attemptId: string; userId: string | null; reason: 'invalid_credentials' | 'not_a_member'; orgId: string; ip: string | null },
  outcome: 'success' | 'failure' = 'failure',
): Promise<void> {
  await ctx.deps.systemDb.tx({ orgId: f.orgId }, async (tx) => {
    await eventStore.append(tx, {
      orgId: f.orgId,
      streamId: loginAttemptStream(f.attemptId),
      streamType: streamTypeOf('identity', 'LoginAttempt'),
      expectedVersion: 0,
      events: [{ type: 'LoginFailed', data: { attemptId: f.attemptId, userId: f.userId, reason: f.reason, ip: f.ip } }],
      metadata: metadataFor(ctx),
    });
    await finishLoginAttempt(tx, f.attemptId, outcome);
  });
}

/**
 * Rotates a refresh token: the presented one is marked used and a new one in the same family is issued. Presenting
 * a used token again means it leaked (or was stolen): the whole family is revoked and the caller must log in —
 * except within the reuse grace (`refreshReuseGraceS`, default 10 s) while its successor is still unused: two tabs
 * or a retried request refreshing with the same token each get a token of the family. Once any later token of the
 * family is used, the old one is a reuse whatever the time.
 */
export async function refreshSession(ctx: Context, refreshToken: string): Promise<AuthPayloadParent> {
  if (refreshToken.length === 0 || refreshToken.length > 200) throw unauthenticated('Invalid refresh token');
  const outcome = await ctx.deps.systemDb.tx({ orgId: null }, async (tx) => {
    const row = await refreshTokenForUpdate(tx, sha256Hex(refreshToken));
    if (!row || row.revokedAt || row.expiresAt.getTime() <= Date.now()) return { kind: 'invalid' as const };
    const concurrent = !!row.usedAt && (await withinReuseGrace(tx, row, ctx.deps.config.refreshReuseGraceS ?? DEFAULT_REFRESH_REUSE_GRACE_S));
    if (row.usedAt && !concurrent) {
      await revokeRefreshFamily(tx, row.familyId);
      // An auth event for the audit log (stream `Session-<family>`; the row lock serializes reuses of one family).
      const streamId = `Session-${row.familyId}`;
      await eventStore.append(tx, {
        orgId: row.orgId,
        streamId,
        streamType: streamTypeOf('identity', 'Session'),
        expectedVersion: await eventStore.streamVersion(tx, streamId),
        events: [{ type: 'RefreshTokenReused', data: { userId: row.userId, familyId: row.familyId, ip: ctx.principal.ip ?? null } }],
        metadata: metadataFor(ctx),
      });
      return { kind: 'reused' as const, familyId: row.familyId, userId: row.userId };
    }
    const role = await currentRole(tx, row.userId, row.orgId);
    if (!role) {
      await revokeRefreshFamily(tx, row.familyId);
      return { kind: 'invalid' as const };
    }
    if (!concurrent) await markRefreshTokenUsed(tx, row.id);
    return { kind: 'ok' as const, session: await issueSession(ctx, tx, { userId: row.userId, orgId: row.orgId, role }, row.familyId) };
  });
  if (outcome.kind === 'ok') return outcome.session;
  if (outcome.kind === 'reused') {
    ctx.log.warn({ familyId: outcome.familyId, userId: outcome.userId }, 'refresh token reused: family revoked');
  }
  throw unauthenticated('Invalid refresh token');
}

/** Ends the session the refresh token belongs to (its whole family). Unknown tokens are a no-op. */
export async function logout(ctx: Context, refreshToken: string): Promise<boolean> {
  if (refreshToken.length === 0 || refreshToken.length > 200) return true;
  await ctx.deps.systemDb.tx({ orgId: null }, async (tx) => {
    const row = await refreshTokenForUpdate(tx, sha256Hex(refreshToken));
    if (row) await revokeRefreshFamily(tx, row.familyId);
  });
  return true;
}

/** The invitee sets a password (or proves the one they already have), joins and is signed in. */
export async function acceptInvitation(ctx: Context, token: string, password: string): Promise<AuthPayloadParent> {
  const invalid = () => badInput('token', 'This invitation is invalid or has expired');
  if (token.length === 0 || token.length > 200) throw invalid();
  const inv = await ctx.deps.systemDb.withClient((tx) => invitationByTokenHash(tx, sha256Hex(token)));
  if (!inv || !inv.userId || inv.acceptedAt || inv.expiresAt.getTime() <= Date.now()) throw invalid();
  const userId = inv.userId;
  const existingHash = await ctx.deps.systemDb.withClient((tx) => passwordHashOf(tx, userId));
  if (existingHash) {
    if (!(await verifyPassword(existingHash, password))) throw unauthenticated('Invalid email or password');
  } else {
    checkPassword(password);
  }
  const newHash = existingHash ? null : await hashPassword(password);
  return retryOnConflict(() =>
    ctx.deps.db.tx({ orgId: inv.orgId, userId }, async (tx) => {
      const metadata = metadataFor(ctx, userId);
      const invitation = await eventStore.load(tx, invitationStream(inv.id), invitationAggregate);
      await eventStore.append(tx, {
        orgId: inv.orgId,
        streamId: invitationStream(inv.id),
        streamType: streamTypeOf('identity', 'Invitation'),
        expectedVersion: invitation.version,
        events: decideInvitation({ type: 'AcceptInvitation', invitationId: inv.id, userId, now: new Date() }, invitation.state),
        metadata,
      });
      const user = await userById(tx, userId);
      const org = await eventStore.load(tx, organizationStream(inv.orgId), organizationAggregate);
      await eventStore.append(tx, {
        orgId: inv.orgId,
        streamId: organizationStream(inv.orgId),
        streamType: streamTypeOf('identity', 'Organization'),
        expectedVersion: org.version,
        events: decideOrganization(
          { type: 'AddMember', organizationId: inv.orgId, userId, name: user?.name ?? inv.name, role: inv.role, ifAlreadyMember: 'skip' },
          org.state,
        ),
        metadata,
      });
      if (newHash) await setPasswordHash(tx, userId, newHash);
      const role = org.state.members[userId] ?? inv.role;
      return issueSession(ctx, tx, { userId, orgId: inv.orgId, role });
    }),
  );
}
