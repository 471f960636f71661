/**
 * SQL over the tasks read models. Every function takes a Tx (tenant already set, RLS applies on the runtime role) and
 * also filters by org_id, so the same code is correct on the system role (reactors) where RLS is bypassed.
 * Batch functions take many keys and run ONE statement (DataLoaders in loaders.ts call them).
 */
import type { Tx } from '@cos/db';
import type { AssigneeRef, TaskPriority, TaskStatus } from '@cos/events';
import { assertSearchableText } from '@cos/service-kit';
import { creatorColumn } from './creator-column';

export interface TaskRow {
  id: string;
  org_id: string;
  title: string;
  description: string | null;
  status: TaskStatus;
  priority: TaskPriority;
  version: number;
  assignee_id: string | null;
  assignee_kind: AssigneeRef['kind'] | null;
  customer_id: string | null;
  created_by_user_id: string | null;
  created_at: Date;
  updated_at: Date;
  due_at: Date | null;
  /** created_at with microseconds, for keyset cursors (a JS Date would lose them). */
  cursor_ts: string;
}

export interface CommentRow {
  id: string;
  org_id: string;
  task_id: string;
  body: string;
  author_id: string | null;
  drafted_by_agent_id: string | null;
  created_at: Date;
}

export interface ApprovalRow {
  id: string;
  org_id: string;
  task_id: string;
  run_id: string;
  agent_id: string;
  action: string;
  payload: unknown;
  status: 'PENDING' | 'APPROVED' | 'REJECTED';
  decided_by: string | null;
  decided_at: Date | null;
  reason: string | null;
  created_at: Date;
}

export interface TaskPage {
  rows: TaskRow[];
  hasNextPage: boolean;
  totalCount: number;
}

export interface Keyset {
  ts: string;
  id: string;
}

// Built once at module load time is too early: the release (creator-column.ts) is chosen in main() after imports.
let taskColumns: string | null = null;
const selectTaskColumns = () =>
  (taskColumns ??= `t.id, t.org_id, t.title, t.description, t.status, t.priority, t.version, t.assignee_id,
  t.assignee_kind, t.customer_id, t.${creatorColumn()} AS created_by_user_id, t.created_at, t.updated_at, t.due_at,
  to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_ts`);

export async function getTasksByIds(tx: Tx, orgId: string, ids: readonly string[]): Promise<TaskRow[]> {
  return tx.query<TaskRow>(
    /* getTasksByIds */ `SELECT ${selectTaskColumns()} FROM tasks t WHERE t.org_id = $1 AND t.id = ANY($2::uuid[])`,
    [orgId, ids],
  );
}

/** Locks the task's read-model row so concurrent writers to the same task queue up instead of racing. */
export async function lockTask(tx: Tx, orgId: string, taskId: string): Promise<boolean> {
  const row = await tx.one(/* lockTask */ `SELECT 1 FROM tasks WHERE org_id = $1 AND id = $2 FOR UPDATE`, [orgId, taskId]);
  return row !== undefined;
}

export interface TaskListFilter {
  status?: TaskStatus[] | null;
  assigneeId?: string | null;
  customerId?: string | null;
  search?: string | null;
}

/**
 * One page of the org's tasks, newest first (created_at desc, id desc), plus the total matching the filter, in one
 * statement.
 * `search` goes through websearch_to_tsquery as a bound parameter: any string is harmless.
 */
export async function listTasks(
  tx: Tx,
  orgId: string,
  filter: TaskListFilter,
  first: number,
  after: Keyset | null,
): Promise<TaskPage> {
  const params: unknown[] = [orgId];
  const where: string[] = ['t.org_id = $1'];
  const add = (sql: (n: number) => string, value: unknown) => {
    params.push(value);
    where.push(sql(params.length));
  };
  if (filter.status && filter.status.length > 0) add((n) => `t.status = ANY($${n}::text[])`, filter.status);
  if (filter.assigneeId) add((n) => `t.assignee_id = $${n}::uuid`, filter.assigneeId);
  if (filter.customerId) add((n) => `t.customer_id = $${n}::uuid`, filter.customerId);
  if (filter.search && filter.search.trim()) {
    assertSearchableText('filter.search', filter.search);
    add((n) => `t.search @@ websearch_to_tsquery('english'::regconfig, $${n})`, filter.search);
  }
  const filterSql = where.join(' AND ');
  let pageWhere = filterSql;
  if (after) {
    params.push(after.ts, after.id);
    pageWhere += ` AND (t.created_at, t.id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`;
  }
  params.push(first + 1);
  // ONE statement (so callers can run it with Db.single: no BEGIN/COMMIT): the count comes from a lateral join, so
  // an empty page still reports it.
  const rows = await tx.query<TaskRow & { total: number; has_row: boolean }>(
    /* listTasks */ `SELECT c.total, page.id IS NOT NULL AS has_row, page.*
     FROM (SELECT count(*)::int AS total FROM tasks t WHERE ${filterSql}) c
     LEFT JOIN LATERAL (
       SELECT ${selectTaskColumns()} FROM tasks t WHERE ${pageWhere}
       ORDER BY t.created_at DESC, t.id DESC LIMIT $${params.length}
     ) page ON true
     ORDER BY page.created_at DESC, page.id DESC`,
    params,
  );
  const totalCount = rows[0]?.total ?? 0;
  const found: TaskRow[] = [];
  for (const r of rows) {
    if (!r.has_row) continue;
    const { total: _total, has_row: _hasRow, ...task } = r;
    found.push(task);
  }
  return { rows: found.slice(0, first), hasNextPage: found.length > first, totalCount };
}

export type TaskParentKind = 'User' | 'Agent' | 'Customer';

export interface ParentPageKey {
  parentId: string;
  first: number;
  after: Keyset | null;
}

/**
 * Pages of tasks for many parents (a User's or Agent's assigned tasks, a Customer's tasks) in ONE statement: a
 * lateral subquery per parent with its own limit and cursor, and the parent's total.
 */
export async function listTasksForParents(
  tx: Tx,
  orgId: string,
  kind: TaskParentKind,
  keys: readonly ParentPageKey[],
): Promise<TaskPage[]> {
  const match =
    kind === 'Customer'
      ? 't.customer_id = p.parent_id'
      : `t.assignee_id = p.parent_id AND t.assignee_kind = '${kind === 'User' ? 'User' : 'Agent'}'`;
  const rows = await tx.query<TaskRow & { ord: number; total: number; task_id: string | null }>(
    /* listTasksForParents */ `SELECT p.ord::int AS ord, c.total, page.*
     FROM unnest($2::uuid[], $3::timestamptz[], $4::uuid[], $5::int[]) WITH ORDINALITY
          AS p(parent_id, after_ts, after_id, lim, ord)
     CROSS JOIN LATERAL (SELECT count(*)::int AS total FROM tasks t WHERE t.org_id = $1 AND ${match}) c
     LEFT JOIN LATERAL (
       SELECT t.id AS task_id, ${selectTaskColumns()} FROM tasks t
       WHERE t.org_id = $1 AND ${match}
         AND (p.after_ts IS NULL OR (t.created_at, t.id) < (p.after_ts, p.after_id))
       ORDER BY t.created_at DESC, t.id DESC
       LIMIT p.lim
     ) page ON true
     ORDER BY p.ord, page.created_at DESC, page.id DESC`,
    [
      orgId,
      keys.map((k) => k.parentId),
      keys.map((k) => k.after?.ts ?? null),
      keys.map((k) => k.after?.id ?? null),
      keys.map((k) => k.first + 1),
    ],
  );
  const pages: TaskPage[] = keys.map(() => ({ rows: [], hasNextPage: false, totalCount: 0 }));
  for (const r of rows) {
    const page = pages[r.ord - 1]!;
    page.totalCount = r.total;
    if (r.task_id !== null) {
      const { ord: _ord, total: _total, task_id: _taskId, ...task } = r;
      page.rows.push(task);
    }
  }
  keys.forEach((k, i) => {
    const page = pages[i]!;
    page.hasNextPage = page.rows.length > k.first;
    page.rows = page.rows.slice(0, k.first);
  });
  return pages;
}

export async function getCommentsForTasks(tx: Tx, orgId: string, taskIds: readonly string[]): Promise<CommentRow[]> {
  return tx.query<CommentRow>(
    /* getCommentsForTasks */ `SELECT id, org_id, task_id, body, author_id, drafted_by_agent_id, created_at FROM comments
     WHERE org_id = $1 AND task_id = ANY($2::uuid[]) ORDER BY created_at, id`,
    [orgId, taskIds],
  );
}

const APPROVAL_COLUMNS = `id, org_id, task_id, run_id, agent_id, action, payload, status, decided_by, decided_at, reason, created_at`;

export async function getApprovalsForTasks(tx: Tx, orgId: string, taskIds: readonly string[]): Promise<ApprovalRow[]> {
  return tx.query<ApprovalRow>(
    /* getApprovalsForTasks */ `SELECT ${APPROVAL_COLUMNS} FROM approvals
     WHERE org_id = $1 AND task_id = ANY($2::uuid[]) ORDER BY created_at, id`,
    [orgId, taskIds],
  );
}

export async function getApprovalsByIds(tx: Tx, orgId: string, ids: readonly string[]): Promise<ApprovalRow[]> {
  return tx.query<ApprovalRow>(
    /* getApprovalsByIds */ `SELECT ${APPROVAL_COLUMNS} FROM approvals WHERE org_id = $1 AND id = ANY($2::uuid[])`,
    [orgId, ids],
  );
}

export async function listPendingApprovals(tx: Tx, orgId: string, limit = 200): Promise<ApprovalRow[]> {
  return tx.query<ApprovalRow>(
    /* listPendingApprovals */ `SELECT ${APPROVAL_COLUMNS} FROM approvals
     WHERE org_id = $1 AND status = 'PENDING' ORDER BY created_at, id LIMIT $2`,
    [orgId, limit],
  );
}

export async function countPendingApprovalsForTask(tx: Tx, orgId: string, taskId: string): Promise<number> {
  const row = await tx.one<{ n: number }>(
    /* countPendingApprovalsForTask */ `SELECT count(*)::int AS n FROM approvals
     WHERE org_id = $1 AND task_id = $2 AND status = 'PENDING'`,
    [orgId, taskId],
  );
  return row?.n ?? 0;
}

/** Open tasks assigned to a person (used when they leave the organization). */
export async function listOpenTaskIdsAssignedTo(tx: Tx, orgId: string, userId: string): Promise<string[]> {
  const rows = await tx.query<{ id: string }>(
    /* listOpenTaskIdsAssignedTo */ `SELECT id FROM tasks WHERE org_id = $1 AND assignee_id = $2 AND assignee_kind = 'User'
     AND status NOT IN ('DONE', 'CANCELLED') ORDER BY created_at, id`,
    [orgId, userId],
  );
  return rows.map((r) => r.id);
}

export async function findTaskIdByOriginKey(tx: Tx, orgId: string, originKey: string): Promise<string | null> {
  const row = await tx.one<{ id: string }>(
    /* findTaskIdByOriginKey */ `SELECT id FROM tasks WHERE org_id = $1 AND origin_key = $2`,
    [orgId, originKey],
  );
  return row?.id ?? null;
}

export async function getCommentById(tx: Tx, orgId: string, id: string): Promise<CommentRow | undefined> {
  return tx.one<CommentRow>(
    /* getCommentById */ `SELECT id, org_id, task_id, body, author_id, drafted_by_agent_id, created_at FROM comments WHERE org_id = $1 AND id = $2`,
    [orgId, id],
  );
}

export async function getCommentsByIds(tx: Tx, orgId: string, ids: readonly string[]): Promise<CommentRow[]> {
  return tx.query<CommentRow>(
    /* getCommentsByIds */ `SELECT id, org_id, task_id, body, author_id, created_at FROM comments
     WHERE org_id = $1 AND id = ANY($2::uuid[])`,
    [orgId, ids],
  );
}

export interface AttachmentRow {
  id: string;
  org_id: string;
  task_id: string;
  comment_id: string | null;
  sha256: string;
  size: string;
  content_type: string;
  name: string;
  uploaded_by: string | null;
  created_at: Date;
}

const ATTACHMENT_COLUMNS = `id, org_id, task_id, comment_id, sha256, size, content_type, name, uploaded_by, created_at`;

/** Attachments of tasks (the task's own and its comments'). */
export async function getAttachmentsForTasks(tx: Tx, orgId: string, taskIds: readonly string[]): Promise<AttachmentRow[]> {
  return tx.query<AttachmentRow>(
    /* getAttachmentsForTasks */ `SELECT ${ATTACHMENT_COLUMNS} FROM attachments
     WHERE org_id = $1 AND task_id = ANY($2::uuid[]) ORDER BY created_at, id`,
    [orgId, taskIds],
  );
}

export async function getAttachmentsForComments(tx: Tx, orgId: string, commentIds: readonly string[]): Promise<AttachmentRow[]> {
  return tx.query<AttachmentRow>(
    /* getAttachmentsForComments */ `SELECT ${ATTACHMENT_COLUMNS} FROM attachments
     WHERE org_id = $1 AND comment_id = ANY($2::uuid[]) ORDER BY created_at, id`,
    [orgId, commentIds],
  );
}

export async function getAttachmentById(tx: Tx, orgId: string, id: string): Promise<AttachmentRow | undefined> {
  return tx.one<AttachmentRow>(/* getAttachmentById */ `SELECT ${ATTACHMENT_COLUMNS} FROM attachments WHERE org_id = $1 AND id = $2`, [orgId, id]);
}

/** Every attachment a person uploaded, in every organization (system role: erasure reaction). */
export async function listAttachmentsUploadedBy(tx: Tx, userId: string): Promise<Array<{ id: string; org_id: string; task_id: string }>> {
  return tx.query(
    /* listAttachmentsUploadedBy */ `SELECT id, org_id, task_id FROM attachments WHERE uploaded_by = $1 ORDER BY org_id, task_id, created_at`,
    [userId],
  );
}

/** How many attachments of any organization reference a blob (system role: blob garbage collection). */
export async function countBlobReferences(tx: Tx, sha256: string): Promise<number> {
  const row = await tx.one<{ n: number }>(/* countBlobReferences */ `SELECT count(*)::int AS n FROM attachments WHERE sha256 = $1`, [sha256]);
  return row?.n ?? 0;
}
