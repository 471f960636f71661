/**
 * identity events -> the members directory (who may be assigned). MemberRemoved also unassigns that person's open
 * tasks (reaction 1: TaskAssigned to null, actor service:tasks); UserErased does the same in every organization of
 * the person and blanks their name. Idempotent on its own (upserts; a repeat finds
 * nothing left to unassign), on top of the bus inbox.
 */
import type { Tx } from '@cos/db';
import type { StoredEvent, StoredOf } from '@cos/event-store';
import type { IdentityEvent } from '@cos/events';
import { executeTask } from '../../commands/task-commands';
import { deactivateMember, eraseMember, setMemberRole, upsertMember } from '../../store/directory-store';
import { listOpenTaskIdsAssignedTo } from '../../store/task-store';
import { reactionMetadata } from '../subjects';

export async function handleIdentityEvent(tx: Tx, incoming: StoredEvent): Promise<void> {
  const event = incoming as StoredOf<IdentityEvent>;
  switch (event.type) {
    case 'MemberJoined':
      await upsertMember(tx, { orgId: event.orgId, userId: event.data.userId, name: event.data.name, role: event.data.role });
      return;
    case 'MemberRoleChanged':
      await setMemberRole(tx, event.orgId, event.data.userId, event.data.role);
      return;
    case 'MemberRemoved': {
      await deactivateMember(tx, event.orgId, event.data.userId);
      const taskIds = await listOpenTaskIdsAssignedTo(tx, event.orgId, event.data.userId);
      for (const taskId of taskIds) {
        await executeTask(tx, {
          orgId: event.orgId,
          taskId,
          command: { type: 'AssignTask', assignee: null },
          metadata: reactionMetadata(incoming),
        });
      }
      return;
    }
    case 'UserErased': {
      // GDPR erasure: the directory forgets the name in every organization, and the person's open tasks there are
      // unassigned as for a removed member. Their comments stay (the author resolves to an erased person).
      const orgs = await eraseMember(tx, event.data.userId);
      for (const orgId of orgs) {
        for (const taskId of await listOpenTaskIdsAssignedTo(tx, orgId, event.data.userId)) {
          await executeTask(tx, { orgId, taskId, command: { type: 'AssignTask', assignee: null }, metadata: reactionMetadata(incoming) });
        }
      }
      return;
    }
    default:
      return;
  }
}
