/**
 * agents events -> the agents directory (who may be assigned), and reaction 4: AgentRunApprovalRequested creates a
 * PENDING Approval (id = the incoming event id, so a redelivery is a no-op) and moves the task to AWAITING_APPROVAL.
 */
import type { Tx } from '@cos/db';
import type { StoredEvent, StoredOf } from '@cos/event-store';
import type { AgentEvent } from '@cos/events';
import type { Logger } from '@cos/logger';
import { requestApproval } from '../../commands/task-commands';
import { upsertAgent } from '../../store/directory-store';
import { isUuid } from '@cos/db';
import { reactionMetadata } from '../subjects';

export function createAgentsReactor(log: Pick<Logger, 'warn'>) {
  return async function handleAgentsEvent(tx: Tx, incoming: StoredEvent): Promise<void> {
    const event = incoming as StoredOf<AgentEvent>;
    switch (event.type) {
      case 'AgentCreated':
        await upsertAgent(tx, { orgId: event.orgId, agentId: event.data.agentId, name: event.data.name });
        return;
      case 'AgentRunApprovalRequested': {
        const d = event.data;
        if (!isUuid(d.taskId) || !isUuid(d.runId) || !isUuid(d.agentId)) {
          log.warn({ eventId: event.id }, 'approval request with malformed ids ignored');
          return;
        }
        const created = await requestApproval(tx, {
          orgId: event.orgId,
          approvalId: event.id,
          taskId: d.taskId,
          runId: d.runId,
          agentId: d.agentId,
          action: d.action,
          payload: d.payload ?? null,
          metadata: reactionMetadata(incoming),
        });
        if (!created) log.warn({ eventId: event.id, taskId: d.taskId }, 'approval requested for an unknown task: ignored');
        return;
      }
      default:
        return;
    }
  };
}
