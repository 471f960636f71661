import type { Context } from '../context';
import { decideAsOrganizationAdmin } from './members';

/**
 * ADMIN/OWNER remove a member from their organization (MemberRemoved). Only an OWNER removes an OWNER; the last
 * OWNER stays. The removed person's refresh tokens for this organization stop working at their next refresh (the
 * role lookup finds no membership), and tasks unassigns their open tasks when it consumes the event.
 */
export async function removeMember(ctx: Context, rawUserId: string): Promise<boolean> {
  await decideAsOrganizationAdmin(ctx, rawUserId, (organizationId, userId, actorRole) => ({
    type: 'RemoveMember',
    organizationId,
    userId,
    actorRole,
  }));
  return true;
}
