/**
 * Read models are projections of the tasks event store, written only here, in the same transaction as the append
 * (and by `pnpm rebuild tasks`, which truncates READ_MODEL_TABLES and replays every event through `project`).
 * members / agents_directory are not listed: they are fed by other services' events (reactors), not by ours.
 */
import type { Tx } from '@cos/db';
import { isUuid } from '@cos/db';
import { createEventStore, type StoredOf } from '@cos/event-store';
import type { TaskEvent } from '@cos/events';
import { creatorColumn } from '../store/creator-column';

export const NOTIFY_CHANNEL = 'tasks_events';

/** Truncated (in this order, CASCADE) before a replay. */
export const READ_MODEL_TABLES = ['attachments', 'approvals', 'comments', 'tasks'] as const;

const userIdOrNull = (actorOrId: string) => (isUuid(actorOrId) ? actorOrId : null);

export async function project(tx: Tx, e: StoredOf<TaskEvent>): Promise<void> {
  switch (e.type) {
    case 'TaskCreated': {
      const d = e.data;
      await tx.query(
        /* projectTaskCreated */ `INSERT INTO tasks (id, org_id, title, description, status, priority, version, assignee_id,
           assignee_kind, customer_id, ${creatorColumn()}, created_by_actor, created_at, updated_at, due_at, origin_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15)`,
        [
          d.taskId,
          e.orgId,
          d.title,
          d.description,
          d.status,
          d.priority,
          e.version,
          d.assignee?.id ?? null,
          d.assignee?.kind ?? null,
          d.customerId,
          userIdOrNull(d.createdBy),
          d.createdBy,
          e.occurredAt,
          d.dueAt,
          d.origin?.key ?? null,
        ],
      );
      return;
    }
    case 'TaskUpdated': {
      const c = e.data.changes;
      await tx.query(
        /* projectTaskUpdated */ `UPDATE tasks SET
           title = CASE WHEN $3 THEN $4 ELSE title END,
           description = CASE WHEN $5 THEN $6 ELSE description END,
           priority = CASE WHEN $7 THEN $8 ELSE priority END,
           customer_id = CASE WHEN $9 THEN $10::uuid ELSE customer_id END,
           due_at = CASE WHEN $11 THEN $12::timestamptz ELSE due_at END,
           version = $13, updated_at = $14
         WHERE id = $1 AND org_id = $2`,
        [
          e.data.taskId,
          e.orgId,
          c.title !== undefined,
          c.title ?? null,
          c.description !== undefined,
          c.description ?? null,
          c.priority !== undefined,
          c.priority ?? null,
          c.customerId !== undefined,
          c.customerId ?? null,
          c.dueAt !== undefined,
          c.dueAt ?? null,
          e.version,
          e.occurredAt,
        ],
      );
      return;
    }
    case 'TaskStatusChanged':
      await tx.query(
        /* projectTaskStatusChanged */ `UPDATE tasks SET status = $3, version = $4, updated_at = $5 WHERE id = $1 AND org_id = $2`,
        [e.data.taskId, e.orgId, e.data.to, e.version, e.occurredAt],
      );
      return;
    case 'TaskAssigned':
      await tx.query(
        /* projectTaskAssigned */ `UPDATE tasks SET assignee_id = $3, assignee_kind = $4, version = $5, updated_at = $6
         WHERE id = $1 AND org_id = $2`,
        [e.data.taskId, e.orgId, e.data.assignee?.id ?? null, e.data.assignee?.kind ?? null, e.version, e.occurredAt],
      );
      return;
    case 'CommentAdded':
      await tx.query(
        /* projectCommentAdded */ `WITH c AS (
           INSERT INTO comments (id, org_id, task_id, body, author_id, author_actor, created_at, drafted_by_agent_id, drafted_by_approval_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $9, $10))
         UPDATE tasks SET version = $8, updated_at = $7 WHERE id = $3 AND org_id = $2`,
        [
          e.data.commentId,
          e.orgId,
          e.data.taskId,
          e.data.body,
          userIdOrNull(e.data.authorId),
          e.data.authorId,
          e.occurredAt,
          e.version,
          e.data.draftedBy?.agentId ?? null,
          e.data.draftedBy?.approvalId ?? null,
        ],
      );
      return;
    case 'AttachmentAdded': {
      const d = e.data;
      await tx.query(
        /* projectAttachmentAdded */ `WITH a AS (
           INSERT INTO attachments (id, org_id, task_id, comment_id, sha256, size, content_type, name, uploaded_by, uploaded_by_actor, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11))
         UPDATE tasks SET version = $12, updated_at = $11 WHERE id = $3 AND org_id = $2`,
        [d.attachmentId, e.orgId, d.taskId, d.commentId, d.sha256, d.size, d.contentType, d.name, userIdOrNull(d.uploadedBy), d.uploadedBy, e.occurredAt, e.version],
      );
      return;
    }
    case 'AttachmentRemoved':
      await tx.query(
        /* projectAttachmentRemoved */ `WITH a AS (DELETE FROM attachments WHERE id = $1 AND org_id = $2)
         UPDATE tasks SET version = $4, updated_at = $5 WHERE id = $3 AND org_id = $2`,
        [e.data.attachmentId, e.orgId, e.data.taskId, e.version, e.occurredAt],
      );
      return;
    case 'ApprovalRequested':
      await tx.query(
        /* projectApprovalRequested */ `INSERT INTO approvals (id, org_id, task_id, run_id, agent_id, action, payload, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'PENDING', $8)`,
        [
          e.data.approvalId,
          e.orgId,
          e.data.taskId,
          e.data.runId,
          e.data.agentId,
          e.data.action,
          e.data.payload === undefined ? null : JSON.stringify(e.data.payload),
          e.occurredAt,
        ],
      );
      return;
    case 'ApprovalDecided':
      await tx.query(
        /* projectApprovalDecided */ `UPDATE approvals SET status = $3, decided_by = $4, decided_at = $5, reason = $6
         WHERE id = $1 AND org_id = $2`,
        [
          e.data.approvalId,
          e.orgId,
          e.data.approved ? 'APPROVED' : 'REJECTED',
          userIdOrNull(e.data.decidedBy),
          e.occurredAt,
          e.data.reason,
        ],
      );
      return;
  }
}

/** The tasks service's event store (append + project in one transaction). */
export const eventStore = createEventStore<TaskEvent>({ notifyChannel: NOTIFY_CHANNEL, project });
export type TasksEventStore = typeof eventStore;
