/**
 * GDPR erasure of a person (docs/privacy.md): their data key is destroyed (crypto-shredding), UserErased is appended
 * (an audit entry like every identity event; other services react to it), and identity's operational state about
 * them goes: credentials, sessions, throttle rows, mails sent to them.
 */
import { badInput, forbidden, notFound } from '@cos/errors';
import { streamTypeOf } from '@cos/events';
import { parseId, requireScope } from '@cos/service-kit';
import type { Context } from '../context';
import { sha256Hex } from '../auth/secrets';
import { decideUser, userAggregate, userStream } from '../domain/user';
import { identityPii } from '../store/pii';
import { eventStore } from '../projector';
import { metadataFor, retryOnConflict } from './common';

/**
 * OWNER only (scope privacy:erase). The person must belong to the caller's organization (a member or an invitee);
 * anyone else is NOT_FOUND, so an OWNER cannot probe other tenants. When they also belong to other organizations,
 * the caller must be an OWNER there too. Nobody is erased out of an organization's last OWNER seat (BAD_USER_INPUT
 * on userId, as for demoting or removing the last OWNER).
 * Erasing an erased person again answers true and changes nothing.
 */
export async function eraseUser(ctx: Context, rawUserId: string): Promise<boolean> {
  const caller = requireScope(ctx.principal, 'privacy:erase');
  if (caller.kind !== 'user') throw forbidden('Only a person (an OWNER) can erase a person');
  const userId = parseId('userId', rawUserId);
  // The system role: a person spans tenants (their memberships, their User stream); every check below is explicit.
  await retryOnConflict(() =>
    ctx.deps.systemDb.tx({ orgId: null }, async (tx) => {
      // Serializes erasures and role changes of the organizations involved (their memberships are locked).
      const memberships = await tx.query<{ org_id: string; role: string }>(
        `/* erasureMemberships */ SELECT org_id, role FROM memberships WHERE user_id = $1 ORDER BY org_id FOR UPDATE`,
        [userId],
      );
      const invitedHere = await tx.one(`/* erasureInvitedHere */ SELECT 1 FROM invitations WHERE user_id = $1 AND org_id = $2 LIMIT 1`, [
        userId,
        caller.orgId,
      ]);
      const user = await tx.one<{ email: string | null; erased_at: Date | null }>(`/* erasureUser */ SELECT email, erased_at FROM users WHERE id = $1`, [
        userId,
      ]);
      const here = memberships.some((m) => m.org_id === caller.orgId) || invitedHere !== undefined;
      if (!user || (!here && !user.erased_at)) throw notFound('User', userId);
      if (user.erased_at) return;

      const callerRoles = await tx.query<{ org_id: string; role: string }>(
        `/* erasureCallerRoles */ SELECT org_id, role FROM memberships WHERE user_id = $1`,
        [caller.userId],
      );
      const ownerOf = new Set(callerRoles.filter((r) => r.role === 'OWNER').map((r) => r.org_id));
      // The role in the token may be up to one access-token lifetime old: decide on the current one.
      if (!ownerOf.has(caller.orgId)) throw forbidden('Only an OWNER of the organization can erase a person');
      if (memberships.some((m) => !ownerOf.has(m.org_id))) {
        throw forbidden('This person also belongs to an organization you are not an OWNER of; an OWNER there must remove them first');
      }
      for (const m of memberships.filter((m) => m.role === 'OWNER')) {
        const owners = await tx.one<{ n: number }>(
          `/* erasureOwnerCount */ SELECT count(*)::int AS n FROM memberships WHERE org_id = $1 AND role = 'OWNER'`,
          [m.org_id],
        );
        if ((owners?.n ?? 0) <= 1) {
          throw badInput(
            'userId',
            userId === caller.userId
              ? 'You are the last OWNER of an organization: make someone else an OWNER before erasing yourself'
              : 'This person is the last OWNER of an organization',
          );
        }
      }

      const stream = await eventStore.load(tx, userStream(userId), userAggregate);
      if (!stream.state.exists) throw notFound('User', userId);
      await identityPii.erase(tx, [userId]);
      // Events stored before encryption kept their plaintext: scrub this person's now (tombstones).
      await identityPii.sealStoredEvents(tx, { subjects: [userId] });
      await eventStore.append(tx, {
        orgId: caller.orgId,
        streamId: userStream(userId),
        streamType: streamTypeOf('identity', 'User'),
        expectedVersion: stream.version,
        events: decideUser({ type: 'EraseUser', userId }, stream.state),
        metadata: metadataFor(ctx),
      });
      // Operational state about the person (not events): sign-in, sessions, throttle rows, mails sent to them.
      await tx.query(`/* erasureCredentials */ DELETE FROM user_credentials WHERE user_id = $1`, [userId]);
      await tx.query(`/* erasureRefreshTokens */ DELETE FROM refresh_tokens WHERE user_id = $1`, [userId]);
      if (user.email) {
        const normalized = user.email.trim().toLowerCase();
        await tx.query(`/* erasureLoginAttempts */ DELETE FROM login_attempts WHERE account = $1`, [sha256Hex(`login:${normalized}`)]);
        await tx.query(`/* erasureOutboundEmails */ DELETE FROM outbound_emails WHERE lower(to_address) = $1`, [normalized]);
      }
    }),
  );
  return true;
}
