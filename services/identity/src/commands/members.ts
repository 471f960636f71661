import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Role } from '@cos/auth';
import { badInput, forbidden } from '@cos/errors';
import { parseId, requireRole, validate } from '@cos/service-kit';
import type { Context } from '../context';
import type { MembershipParent } from '../parents';
import { newOpaqueToken, sha256Hex } from '../auth/secrets';
import { decideInvitation, initialInvitation, invitationStream } from '../domain/invitation';
import { decideOrganization, organizationAggregate, organizationStream } from '../domain/organization';
import { decideUser, initialUser, userStream } from '../domain/user';
import { eventStore } from '../projector';
import { insertOutboundEmail, userByEmail } from '../store/identity-store';
import { emailSchema, nameSchema } from './auth';
import { metadataFor, pgCode, retryOnConflict } from './common';
import { streamTypeOf } from '@cos/events';

const inviteSchema = z.object({ email: emailSchema, name: nameSchema, role: z.enum(['OWNER', 'ADMIN', 'MEMBER', 'VIEWER']) });

/**
 * ADMIN/OWNER invite someone. A person who already has an account joins at once (MemberJoined); a new email gets
 * a password-less user, a pending invitation and an email with the one-time token (the dev mail sink).
 */
export async function inviteMember(ctx: Context, raw: { email: string; name: string; role: Role }): Promise<MembershipParent> {
  const caller = requireRole(ctx.principal, 'ADMIN');
  const input = validate(inviteSchema, raw);
  if (input.role === 'OWNER' && caller.role !== 'OWNER') throw forbidden('Only an OWNER can grant the OWNER role');
  const { db, systemDb, config } = ctx.deps;
  const orgId = caller.orgId;
  const scope = { orgId, userId: caller.userId };
  const existing = await systemDb.withClient((tx) => userByEmail(tx, input.email));

  if (existing?.passwordHash) {
    await retryOnConflict(() =>
      db.tx(scope, async (tx) => {
        const org = await eventStore.load(tx, organizationStream(orgId), organizationAggregate);
        await eventStore.append(tx, {
          orgId,
          streamId: organizationStream(orgId),
          streamType: streamTypeOf('identity', 'Organization'),
          expectedVersion: org.version,
          events: decideOrganization(
            { type: 'AddMember', organizationId: orgId, userId: existing.id, name: existing.name, role: input.role, ifAlreadyMember: 'reject' },
            org.state,
          ),
          metadata: metadataFor(ctx),
        });
      }),
    );
    return { orgId, userId: existing.id, role: input.role };
  }

  const userId = existing?.id ?? randomUUID();
  const invitationId = randomUUID();
  const token = newOpaqueToken();
  const expiresAt = new Date(Date.now() + config.invitationTtlS * 1000);
  try {
    await db.tx(scope, async (tx) => {
      const metadata = metadataFor(ctx);
      const org = await eventStore.load(tx, organizationStream(orgId), organizationAggregate);
      if (org.state.members[userId]) throw badInput('email', 'This person is already a member of the organization');
      if (!existing) {
        await eventStore.append(tx, {
          orgId,
          streamId: userStream(userId),
          streamType: streamTypeOf('identity', 'User'),
          expectedVersion: 0,
          events: decideUser({ type: 'RegisterUser', userId, email: input.email, name: input.name }, initialUser),
          metadata,
        });
      }
      const link = `${config.inviteUrlBase}?token=${encodeURIComponent(token)}`;
      await eventStore.append(tx, {
        orgId,
        streamId: invitationStream(invitationId),
        streamType: streamTypeOf('identity', 'Invitation'),
        expectedVersion: 0,
        events: decideInvitation(
          // acceptUrl carries the token for the mailer's invitation mail: sealed with the invitee's data key like their
          // email (store/pii.ts), so the events table holds only ciphertext and erasure shreds it.
          { type: 'CreateInvitation', invitationId, userId, email: input.email, name: input.name, role: input.role, tokenHash: sha256Hex(token), expiresAt, acceptUrl: link },
          initialInvitation,
        ),
        metadata,
      });
      await insertOutboundEmail(tx, {
        id: randomUUID(),
        orgId,
        to: input.email,
        subject: 'You have been invited to Company OS',
        body: `Hello ${input.name},\n\nYou have been invited to join an organization on Company OS as ${input.role}.\n` +
          `Accept the invitation and choose a password: ${link}\n\nInvitation token: ${token}\n` +
          `This invitation expires at ${expiresAt.toISOString()}.\n`,
      });
    });
  } catch (err) {
    // Someone registered this email between our lookup and insert.
    if (pgCode(err).code === '23505') throw badInput('email', 'This email was just registered; invite it again');
    throw err;
  }
  return { orgId, userId, role: input.role };
}

/** ADMIN/OWNER change a member's role; only an OWNER grants or removes OWNER; the last OWNER stays. */
export async function changeRole(ctx: Context, rawUserId: string, role: Role): Promise<MembershipParent> {
  const { orgId, userId } = await decideAsOrganizationAdmin(ctx, rawUserId, (organizationId, userId, actorRole) => ({
    type: 'ChangeRole',
    organizationId,
    userId,
    role,
    actorRole,
  }));
  return { orgId, userId, role };
}

/**
 * Runs one organization command for an ADMIN/OWNER caller about member `rawUserId`: load the organization, decide on
 * the caller's CURRENT role (the one in the token may be up to one access-token lifetime old), append; retried on a
 * concurrent write.
 */
export async function decideAsOrganizationAdmin(
  ctx: Context,
  rawUserId: string,
  command: (organizationId: string, userId: string, actorRole: Role) => Parameters<typeof decideOrganization>[0],
): Promise<{ orgId: string; userId: string }> {
  const caller = requireRole(ctx.principal, 'ADMIN');
  const userId = parseId('userId', rawUserId);
  const orgId = caller.orgId;
  await retryOnConflict(() =>
    ctx.deps.db.tx({ orgId, userId: caller.userId }, async (tx) => {
      const org = await eventStore.load(tx, organizationStream(orgId), organizationAggregate);
      const actorRole = org.state.members[caller.userId];
      if (!actorRole) throw forbidden('You are no longer a member of this organization');
      await eventStore.append(tx, {
        orgId,
        streamId: organizationStream(orgId),
        streamType: streamTypeOf('identity', 'Organization'),
        expectedVersion: org.version,
        events: decideOrganization(command(orgId, userId, actorRole), org.state),
        metadata: metadataFor(ctx),
      });
    }),
  );
  return { orgId, userId };
}
