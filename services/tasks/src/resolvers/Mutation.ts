import { randomUUID } from 'node:crypto';
import type { AssigneeRef } from '@cos/events';
import type { Tx } from '@cos/db';
import { badInput, forbidden, notFound } from '@cos/errors';
import { parseId, validate } from '@cos/service-kit';
import type { MutationResolvers } from '../__generated__/resolvers-types';
import { commentBody, createTaskInput, decisionReason, expectedVersion, taskStatus, updateTaskInput } from '../domain/inputs';
import type { TaskCommand } from '../domain/task';
import { decideApprovalCommand, executeTask } from '../commands/task-commands';
import { findAssignee } from '../store/directory-store';
import { getApprovalsByIds, getAttachmentById, getCommentById, getTasksByIds, type TaskRow } from '../store/task-store';
import { verifyBlobRef } from '@cos/files';
import { approver, authorOf, requestMetadata, tenantOf, writer, type Access } from './access';
import type { Context } from '../context';

/** The caller themself, an active member or an agent of the org; anyone else is BAD_USER_INPUT on `field`. */
async function resolveAssignee(tx: Tx, a: Access, id: string, field: string): Promise<AssigneeRef> {
  if (a.userId !== null && id === a.userId) return { id, kind: 'User' };
  const found = await findAssignee(tx, a.orgId, id);
  if (!found) throw badInput(field, `${field} is not a member or agent of this organization`);
  return found;
}

async function readTask(tx: Tx, a: Access, taskId: string): Promise<TaskRow> {
  const row = (await getTasksByIds(tx, a.orgId, [taskId]))[0];
  if (!row) throw notFound('Task', taskId);
  a.loaders.taskById.prime(row.id, row);
  return row;
}

/** Runs one Task command for the caller in one transaction and returns the task as it now is. */
function runTaskCommand(ctx: Context, a: Access, taskId: string, command: TaskCommand, expected?: number) {
  return ctx.db.tx(tenantOf(a), async (tx) => {
    await executeTask(tx, { orgId: a.orgId, taskId, command, metadata: requestMetadata(ctx, a), expectedVersion: expected });
    return readTask(tx, a, taskId);
  });
}

export const Mutation: MutationResolvers = {
  createTask: async (_p, args, ctx) => {
    const a = writer(ctx);
    const input = validate(createTaskInput, args.input, 'input');
    const taskId = randomUUID();
    return ctx.db.tx(tenantOf(a), async (tx) => {
      const assignee = input.assigneeId ? await resolveAssignee(tx, a, input.assigneeId, 'input.assigneeId') : null;
      await executeTask(tx, {
        orgId: a.orgId,
        taskId,
        metadata: requestMetadata(ctx, a),
        command: {
          type: 'CreateTask',
          taskId,
          title: input.title,
          description: input.description,
          priority: input.priority,
          customerId: input.customerId,
          assignee,
          createdBy: authorOf(a),
          dueAt: input.dueAt,
        },
      });
      return readTask(tx, a, taskId);
    });
  },

  updateTask: async (_p, args, ctx) => {
    const a = writer(ctx);
    const id = parseId('id', args.id);
    const version = validate(expectedVersion, args.expectedVersion, 'expectedVersion');
    const changes = validate(updateTaskInput, args.input, 'input');
    return runTaskCommand(ctx, a, id, { type: 'UpdateTask', changes }, version);
  },

  changeTaskStatus: async (_p, args, ctx) => {
    const a = writer(ctx);
    const id = parseId('id', args.id);
    const version = validate(expectedVersion, args.expectedVersion, 'expectedVersion');
    const to = validate(taskStatus, args.status, 'status');
    return runTaskCommand(ctx, a, id, { type: 'ChangeTaskStatus', to }, version);
  },

  assignTask: async (_p, args, ctx) => {
    const a = writer(ctx);
    const id = parseId('id', args.id);
    const assigneeId = args.assigneeId == null ? null : parseId('assigneeId', args.assigneeId);
    return ctx.db.tx(tenantOf(a), async (tx) => {
      const assignee = assigneeId ? await resolveAssignee(tx, a, assigneeId, 'assigneeId') : null;
      await executeTask(tx, { orgId: a.orgId, taskId: id, command: { type: 'AssignTask', assignee }, metadata: requestMetadata(ctx, a) });
      return readTask(tx, a, id);
    });
  },

  addComment: async (_p, args, ctx) => {
    const a = writer(ctx);
    const taskId = parseId('taskId', args.taskId);
    const body = validate(commentBody, args.body, 'body');
    const commentId = randomUUID();
    return ctx.db.tx(tenantOf(a), async (tx) => {
      await executeTask(tx, {
        orgId: a.orgId,
        taskId,
        command: { type: 'AddComment', commentId, body, authorId: authorOf(a) },
        metadata: requestMetadata(ctx, a),
      });
      return (await getCommentById(tx, a.orgId, commentId))!;
    });
  },

  addAttachment: async (_p, args, ctx) => {
    const a = writer(ctx);
    const taskId = parseId('taskId', args.taskId);
    const commentId = args.commentId == null ? null : parseId('commentId', args.commentId);
    const verdict = verifyBlobRef(args.file, ctx.files.secret);
    // Another organization's reference is refused like a forged one: it says nothing about the other tenant.
    if (!verdict.ok || verdict.ref.orgId !== a.orgId) {
      throw badInput('file', verdict.ok || verdict.reason === 'invalid' ? 'file must be a file uploaded with this request (multipart)' : 'The upload expired: send the file again');
    }
    const { ref } = verdict;
    if (!(await ctx.files.store.has(ref.sha256))) throw badInput('file', 'The uploaded file is no longer stored: send it again');
    const attachmentId = randomUUID();
    return ctx.db.tx(tenantOf(a), async (tx) => {
      await executeTask(tx, {
        orgId: a.orgId,
        taskId,
        command: {
          type: 'AddAttachment',
          attachmentId,
          commentId,
          blob: { sha256: ref.sha256, size: ref.size, contentType: ref.type, name: ref.name },
          uploadedBy: authorOf(a),
        },
        metadata: requestMetadata(ctx, a),
      });
      return (await getAttachmentById(tx, a.orgId, attachmentId))!;
    });
  },

  removeAttachment: async (_p, args, ctx) => {
    const a = writer(ctx);
    const id = parseId('id', args.id);
    return ctx.db.tx(tenantOf(a), async (tx) => {
      const row = await getAttachmentById(tx, a.orgId, id);
      if (!row) throw notFound('Attachment', id);
      await executeTask(tx, {
        orgId: a.orgId,
        taskId: row.task_id,
        command: { type: 'RemoveAttachment', attachmentId: id, reason: 'removed' },
        metadata: requestMetadata(ctx, a),
      });
      return readTask(tx, a, row.task_id);
    });
  },

  decideApproval: async (_p, args, ctx) => {
    const a = approver(ctx);
    // "MEMBER and above": a person decides, so the decision names who (decidedBy: User).
    if (a.userId === null) throw forbidden('Only a person can decide an approval');
    const id = parseId('id', args.id);
    const reason = validate(decisionReason, args.reason, 'reason');
    return ctx.db.tx(tenantOf(a), async (tx) => {
      await decideApprovalCommand(tx, {
        orgId: a.orgId,
        approvalId: id,
        approved: args.approve,
        reason,
        decidedBy: a.userId!,
        metadata: requestMetadata(ctx, a),
      });
      const row = (await getApprovalsByIds(tx, a.orgId, [id]))[0]!;
      a.loaders.approvalById.prime(row.id, row);
      return row;
    });
  },
};
