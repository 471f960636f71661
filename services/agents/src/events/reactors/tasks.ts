import type { Tx } from '@cos/db';
import type { StoredEvent, StoredOf } from '@cos/event-store';
import type { AssigneeRef, TaskEvent } from '@cos/events';
import type { Logger } from '@cos/logger';
import { RunRejected } from '../../domain/agent-run';
import { executeRunCommand, queueRun } from '../../commands/agent-commands';
import { getAgentInOrg } from '../../store/agent-store';
import { upsertKnownTask, updateKnownTask } from '../../store/known-task-store';
import { findActiveRun, getRunOrg } from '../../store/run-store';
import { reactionMetadata } from './metadata';

/** Consumer name (durable `agents-tasks`). */
export const TASKS_CONSUMER = 'tasks';

/**
 * Reactions to tasks' events (system role, one transaction with the inbox insert):
 * - TaskCreated/TaskUpdated keep known_tasks (what startAgentRun validates against and the runner reads);
 * - a task assigned to one of our agents queues a run of it (reaction 3), never twice for an active assignment;
 * - ApprovalDecided for one of our runs resumes it (approved) or cancels it with the reason (reaction 5).
 */
export function createTasksReactor(deps: { log: Logger; maxAttempts: number }) {
  async function queueForAssignment(tx: Tx, event: StoredEvent, taskId: string, assignee: AssigneeRef | null) {
    if (!assignee || assignee.kind !== 'Agent') return;
    const agent = await getAgentInOrg(tx, event.orgId, assignee.id);
    if (!agent) {
      deps.log.warn({ taskId, agentId: assignee.id }, 'task assigned to an agent this organization does not have');
      return;
    }
    if (await findActiveRun(tx, event.orgId, taskId, agent.id)) return;
    const runId = await queueRun(tx, {
      orgId: event.orgId,
      agent,
      taskId,
      maxAttempts: deps.maxAttempts,
      metadata: reactionMetadata(event),
    });
    deps.log.info({ runId, taskId, agentId: agent.id }, 'agent run queued for assignment');
  }

  return async function handleTasksEvent(tx: Tx, raw: StoredEvent): Promise<void> {
    const event = raw as StoredOf<TaskEvent>;
    switch (event.type) {
      case 'TaskCreated':
        await upsertKnownTask(tx, {
          orgId: event.orgId,
          taskId: event.data.taskId,
          title: event.data.title,
          description: event.data.description,
          priority: event.data.priority,
          customerId: event.data.customerId,
        });
        await queueForAssignment(tx, event, event.data.taskId, event.data.assignee);
        return;
      case 'TaskUpdated':
        await updateKnownTask(tx, event.orgId, event.data.taskId, event.data.changes);
        return;
      case 'TaskAssigned':
        await queueForAssignment(tx, event, event.data.taskId, event.data.assignee);
        return;
      case 'ApprovalDecided': {
        const run = await getRunOrg(tx, event.data.runId);
        if (!run || run.org_id !== event.orgId) return; // not one of ours
        try {
          await executeRunCommand(tx, {
            orgId: event.orgId,
            runId: event.data.runId,
            command: {
              type: 'DecideApproval',
              approvalId: event.data.approvalId,
              approved: event.data.approved,
              reason: event.data.reason,
            },
            metadata: reactionMetadata(event),
          });
        } catch (err) {
          // Already resumed/cancelled (e.g. a person cancelled the run meanwhile): nothing to do.
          if (err instanceof RunRejected) {
            deps.log.info({ runId: event.data.runId, reason: err.message }, 'approval decision ignored');
            return;
          }
          throw err;
        }
        return;
      }
      default:
        return;
    }
  };
}
