/**
 * Per-request DataLoaders: one SQL statement per entity type (or child list) per request, never one per row.
 * Each batch runs in its own short tenant transaction on the runtime role, so row-level security applies.
 */
import DataLoader from 'dataloader';
import type { Db } from '@cos/db';
import {
  getApprovalsByIds,
  getAttachmentsForComments,
  getAttachmentsForTasks,
  type AttachmentRow,
  getApprovalsForTasks,
  getCommentsByIds,
  getCommentsForTasks,
  getTasksByIds,
  listTasksForParents,
  type ApprovalRow,
  type CommentRow,
  type ParentPageKey,
  type TaskPage,
  type TaskParentKind,
  type TaskRow,
} from './task-store';
import { type BatchObserver, groupBy } from '@cos/service-kit';


export interface Tenant {
  orgId: string;
  userId: string | null;
}


const pageKey = (k: ParentPageKey) => `${k.parentId}|${k.first}|${k.after?.ts ?? ''}|${k.after?.id ?? ''}`;

export function createLoaders(db: Db, tenant: Tenant, onBatch: BatchObserver = () => {}) {
  const scope = { orgId: tenant.orgId, userId: tenant.userId };

  const taskById = new DataLoader<string, TaskRow | null>(async (ids) => {
    onBatch('taskById', ids.length);
    const rows = await db.single(scope, (tx) => getTasksByIds(tx, tenant.orgId, ids));
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => byId.get(id) ?? null);
  });

  const approvalById = new DataLoader<string, ApprovalRow | null>(async (ids) => {
    onBatch('approvalById', ids.length);
    const rows = await db.single(scope, (tx) => getApprovalsByIds(tx, tenant.orgId, ids));
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => byId.get(id) ?? null);
  });

  const commentsByTask = new DataLoader<string, CommentRow[]>(async (taskIds) => {
    onBatch('commentsByTask', taskIds.length);
    const rows = await db.single(scope, (tx) => getCommentsForTasks(tx, tenant.orgId, taskIds));
    const by = groupBy(rows, (r) => r.task_id);
    return taskIds.map((id) => by.get(id) ?? []);
  });

  const commentById = new DataLoader<string, CommentRow | null>(async (ids) => {
    onBatch('commentById', ids.length);
    const rows = await db.single(scope, (tx) => getCommentsByIds(tx, tenant.orgId, ids));
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => byId.get(id) ?? null);
  });

  const approvalsByTask = new DataLoader<string, ApprovalRow[]>(async (taskIds) => {
    onBatch('approvalsByTask', taskIds.length);
    const rows = await db.single(scope, (tx) => getApprovalsForTasks(tx, tenant.orgId, taskIds));
    for (const r of rows) approvalById.prime(r.id, r);
    const by = groupBy(rows, (r) => r.task_id);
    return taskIds.map((id) => by.get(id) ?? []);
  });

  // Attachments of a task: its own (comment_id null); of a comment: those pointing at it.
  const attachmentsByTask = new DataLoader<string, AttachmentRow[]>(async (taskIds) => {
    onBatch('attachmentsByTask', taskIds.length);
    const rows = await db.single(scope, (tx) => getAttachmentsForTasks(tx, tenant.orgId, taskIds));
    const by = groupBy(rows.filter((r) => r.comment_id === null), (r) => r.task_id);
    return taskIds.map((id) => by.get(id) ?? []);
  });

  const attachmentsByComment = new DataLoader<string, AttachmentRow[]>(async (commentIds) => {
    onBatch('attachmentsByComment', commentIds.length);
    const rows = await db.single(scope, (tx) => getAttachmentsForComments(tx, tenant.orgId, commentIds));
    const by = groupBy(rows, (r) => r.comment_id!);
    return commentIds.map((id) => by.get(id) ?? []);
  });

  const tasksOf = (kind: TaskParentKind) =>
    new DataLoader<ParentPageKey, TaskPage, string>(
      async (keys) => {
        onBatch(`tasksOf${kind}`, keys.length);
        const pages = await db.single(scope, (tx) => listTasksForParents(tx, tenant.orgId, kind, keys));
        for (const p of pages) for (const r of p.rows) taskById.prime(r.id, r);
        return pages;
      },
      { cacheKeyFn: pageKey },
    );

  return {
    taskById,
    approvalById,
    commentsByTask,
    commentById,
    approvalsByTask,
    attachmentsByTask,
    attachmentsByComment,
    tasksOfUser: tasksOf('User'),
    tasksOfAgent: tasksOf('Agent'),
    tasksOfCustomer: tasksOf('Customer'),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
