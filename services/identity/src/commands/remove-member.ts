import { forbidden } from '@cos/errors';
import { parseId, requireRole } from '@cos/service-kit';
import type { Context } from '../context';
import { decideOrganization, organizationAggregate, organizationStream } from '../domain/organization';
import { eventStore } from '../store/projection';
import { metadataFor, retryOnConflict } from './common';

/**
 * ADMIN/OWNER remove a member from their organization (MemberRemoved). Only an OWNER removes an OWNER; the last
 * OWNER stays. The removed person's refresh tokens for this organization stop working at their next refresh (the
 * role lookup finds no membership), and tasks unassigns their open tasks when it consumes the event.
 */
export async function removeMember(ctx: Context, rawUserId: string): Promise<boolean> {
  const caller = requireRole(ctx.principal, 'ADMIN');
  const userId = parseId('userId', rawUserId);
  const orgId = caller.orgId;
  await retryOnConflict(() =>
    ctx.deps.db.tx({ orgId, userId: caller.userId }, async (tx) => {
      const org = await eventStore.load(tx, organizationStream(orgId), organizationAggregate);
      // The role in the caller's token may be up to one access-token lifetime old: decide on the current one.
      const actorRole = org.state.members[caller.userId];
      if (!actorRole) throw forbidden('You are no longer a member of this organization');
      await eventStore.append(tx, {
        orgId,
        streamId: organizationStream(orgId),
        streamType: 'Organization',
        expectedVersion: org.version,
        events: decideOrganization({ type: 'RemoveMember', organizationId: orgId, userId, actorRole }, org.state),
        metadata: metadataFor(ctx),
      });
    }),
  );
  return true;
}
