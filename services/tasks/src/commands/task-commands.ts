/**
 * The application layer: load an aggregate from its stream, decide, append (projecting in the same transaction).
 * Shared by the GraphQL mutations and the reactors, so both follow the same rules.
 */
import type { Tx } from '@cos/db';
import type { EventMetadata, StoredOf } from '@cos/event-store';
import { conflict, notFound } from '@cos/errors';
import type { TaskEvent } from '@cos/events';
import { appliedAction } from '@cos/events/approval-actions';
import { decideTask, TASK_STREAM_TYPE, taskAggregate, taskStreamId, type TaskCommand, type TaskAggregateState } from '../domain/task';
import { approvalAggregate, approvalStreamId, APPROVAL_STREAM_TYPE, decideApproval, type ApprovalState } from '../domain/approval';
import { eventStore } from '../projector';
import { countPendingApprovalsForTask, lockTask } from '../store/task-store';

export interface CommandResult {
  state: TaskAggregateState;
  version: number;
  events: StoredOf<TaskEvent>[];
}

/**
 * Runs one Task command. `expectedVersion` (when the client sent one) is checked before deciding, so a stale version
 * is a CONFLICT even when the change would be a no-op.
 */
export async function executeTask(
  tx: Tx,
  args: { orgId: string; taskId: string; command: TaskCommand; metadata: EventMetadata; expectedVersion?: number },
): Promise<CommandResult> {
  const streamId = taskStreamId(args.taskId);
  if (args.command.type !== 'CreateTask' && !(await lockTask(tx, args.orgId, args.taskId))) {
    throw notFound('Task', args.taskId);
  }
  const { state, version } = await eventStore.load(tx, streamId, taskAggregate);
  if (args.expectedVersion !== undefined && state && args.expectedVersion !== version) {
    throw conflict(`Stale version: expected ${args.expectedVersion}, the current version is ${version}`, version);
  }
  const decided = decideTask(args.command, state);
  const events = await eventStore.append(tx, {
    orgId: args.orgId,
    streamId,
    streamType: TASK_STREAM_TYPE,
    expectedVersion: version,
    events: decided,
    metadata: args.metadata,
  });
  let next = state;
  for (const e of events) next = taskAggregate.evolve(next, e);
  return { state: next, version: events.at(-1)?.version ?? version, events };
}

/**
 * An agent run asks for approval (reaction 4): records a PENDING Approval and moves an open task to
 * AWAITING_APPROVAL. Returns false when the task does not exist in the org (nothing is written).
 * Idempotent: the approval id is given by the caller (the incoming event id), a repeat is a no-op.
 */
export async function requestApproval(
  tx: Tx,
  args: {
    orgId: string;
    approvalId: string;
    taskId: string;
    runId: string;
    agentId: string;
    action: string;
    payload: unknown;
    metadata: EventMetadata;
  },
): Promise<boolean> {
  if (!(await lockTask(tx, args.orgId, args.taskId))) return false;
  const streamId = approvalStreamId(args.approvalId);
  const { state, version } = await eventStore.load(tx, streamId, approvalAggregate);
  const events = decideApproval(
    {
      type: 'RequestApproval',
      approvalId: args.approvalId,
      taskId: args.taskId,
      runId: args.runId,
      agentId: args.agentId,
      action: args.action,
      payload: args.payload,
    },
    state,
  );
  if (events.length === 0) return true;
  await eventStore.append(tx, {
    orgId: args.orgId,
    streamId,
    streamType: APPROVAL_STREAM_TYPE,
    expectedVersion: version,
    events,
    metadata: args.metadata,
  });
  const task = await eventStore.load(tx, taskStreamId(args.taskId), taskAggregate);
  if (task.state && (task.state.status === 'TODO' || task.state.status === 'IN_PROGRESS')) {
    await executeTask(tx, {
      orgId: args.orgId,
      taskId: args.taskId,
      command: { type: 'ChangeTaskStatus', to: 'AWAITING_APPROVAL', system: true },
      metadata: args.metadata,
    });
  }
  return true;
}

/**
 * Applies what an approved request asked for, when the platform applies that action (`appliedAction`): in the
 * decision's transaction, so the effect is committed together with ApprovalDecided — exactly once, whatever the
 * worker does. Comments are authored by the approver and marked as drafted by the agent (the comment id derives from
 * the approval, so it is stable and visible to the worker that asked).
 */
async function applyApprovedAction(
  tx: Tx,
  args: { orgId: string; approvalId: string; decidedBy: string; metadata: EventMetadata },
  approval: ApprovalState,
): Promise<void> {
  const applied = appliedAction(approval.action, approval.payload);
  if (!applied) return;
  const draftedBy = { agentId: approval.agentId, approvalId: approval.id };
  const command: TaskCommand =
    applied.action === 'task.setPriority'
      ? { type: 'UpdateTask', changes: { priority: applied.payload.priority } }
      : {
          type: 'AddComment',
          commentId: approval.id,
          body: applied.action === 'support.sendReply' ? applied.payload.draft : applied.payload.body,
          authorId: args.decidedBy,
          draftedBy,
        };
  await executeTask(tx, { orgId: args.orgId, taskId: approval.taskId, command, metadata: args.metadata });
}

/**
 * A person approves or rejects. Either way the task goes back to IN_PROGRESS once none of its approvals is pending
 * (a rejection's reason stays on the Approval). Deciding twice is a CONFLICT. Approving applies the action when the
 * platform applies it (applyApprovedAction).
 */
export async function decideApprovalCommand(
  tx: Tx,
  args: { orgId: string; approvalId: string; approved: boolean; reason: string | null; decidedBy: string; metadata: EventMetadata },
): Promise<{ taskId: string }> {
  const locked = await tx.one(/* lockApproval */ `SELECT 1 FROM approvals WHERE org_id = $1 AND id = $2 FOR UPDATE`, [
    args.orgId,
    args.approvalId,
  ]);
  if (!locked) throw notFound('Approval', args.approvalId);
  const streamId = approvalStreamId(args.approvalId);
  const { state, version } = await eventStore.load(tx, streamId, approvalAggregate);
  const events = decideApproval(
    { type: 'DecideApproval', approved: args.approved, reason: args.reason, decidedBy: args.decidedBy },
    state,
    version,
  );
  await eventStore.append(tx, {
    orgId: args.orgId,
    streamId,
    streamType: APPROVAL_STREAM_TYPE,
    expectedVersion: version,
    events,
    metadata: args.metadata,
  });
  const taskId = state!.taskId;
  if (args.approved) await applyApprovedAction(tx, args, state!);
  const pending = await countPendingApprovalsForTask(tx, args.orgId, taskId);
  if (pending === 0) {
    await lockTask(tx, args.orgId, taskId);
    const task = await eventStore.load(tx, taskStreamId(taskId), taskAggregate);
    if (task.state?.status === 'AWAITING_APPROVAL') {
      await executeTask(tx, {
        orgId: args.orgId,
        taskId,
        command: { type: 'ChangeTaskStatus', to: 'IN_PROGRESS', system: true },
        metadata: args.metadata,
      });
    }
  }
  return { taskId };
}
