/** tasks' part of `exportMyData`: what tasks keeps about one person in the tenant transaction's organization. */
import type { Tx } from '@cos/db';
import { creatorColumn } from './creator-column';

/** Rows per list at most; `truncated` names the lists that had more. */
export const EXPORT_LIMIT = 10_000;

export async function tasksExport(tx: Tx, userId: string) {
  const cap = EXPORT_LIMIT + 1;
  const created = await tx.query(
    `/* exportTasksCreated */ SELECT id, title, description, status, priority, customer_id AS "customerId", created_at AS "createdAt",
       updated_at AS "updatedAt", due_at AS "dueAt"
     FROM tasks WHERE ${creatorColumn()} = $1 ORDER BY created_at LIMIT $2`,
    [userId, cap],
  );
  const assigned = await tx.query(
    `/* exportTasksAssigned */ SELECT id, title, status, priority, created_at AS "createdAt"
     FROM tasks WHERE assignee_id = $1 AND assignee_kind = 'User' ORDER BY created_at LIMIT $2`,
    [userId, cap],
  );
  const comments = await tx.query(
    `/* exportComments */ SELECT id, task_id AS "taskId", body, created_at AS "createdAt"
     FROM comments WHERE author_id = $1 ORDER BY created_at LIMIT $2`,
    [userId, cap],
  );
  const approvals = await tx.query(
    `/* exportApprovalsDecided */ SELECT id, task_id AS "taskId", action, status, reason, decided_at AS "decidedAt"
     FROM approvals WHERE decided_by = $1 ORDER BY decided_at LIMIT $2`,
    [userId, cap],
  );
  const lists = { created, assigned, comments, approvals };
  const truncated = Object.entries(lists).filter(([, rows]) => rows.length > EXPORT_LIMIT).map(([k]) => k);
  const cut = <T>(rows: T[]) => rows.slice(0, EXPORT_LIMIT);
  return {
    tasksCreated: cut(created),
    tasksAssigned: cut(assigned),
    comments: cut(comments),
    approvalsDecided: cut(approvals),
    truncated,
  };
}
