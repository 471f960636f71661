/**
 * identity events -> the members directory (who may be assigned). MemberRemoved also unassigns that person's open
 * tasks (reaction 1: TaskAssigned to null, actor service:tasks). Idempotent on its own (upserts; a repeat finds
 * nothing left to unassign), on top of the bus inbox. UserErased removes every attachment the person uploaded, in
 * every organization (AttachmentRemoved, reason 'erasure'; the blobs reactor then deletes unreferenced blobs).
 */
import type { Tx } from '@cos/db';
import type { StoredEvent, StoredOf } from '@cos/event-store';
import type { IdentityEvent } from '@cos/events';
import { executeTask } from '../../commands/task-commands';
import { deactivateMember, setMemberRole, upsertMember } from '../../store/directory-store';
import { listAttachmentsUploadedBy, listOpenTaskIdsAssignedTo } from '../../store/task-store';
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
      // The consumer runs on the system role: this finds the person's attachments in every organization.
      for (const a of await listAttachmentsUploadedBy(tx, event.data.userId)) {
        await executeTask(tx, {
          orgId: a.org_id,
          taskId: a.task_id,
          command: { type: 'RemoveAttachment', attachmentId: a.id, reason: 'erasure' },
          metadata: reactionMetadata(incoming),
        });
      }
      return;
    }
    default:
      return;
  }
}
