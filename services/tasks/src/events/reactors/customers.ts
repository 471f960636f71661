/**
 * customers events -> reaction 2: ChurnRiskFlagged creates ONE follow-up task per churn episode (origin key
 * `churn:<customerId>:<episode>`, unique per org), priority HIGH, for the customer, assigned to the customer's owner
 * unless the directory knows they left. The creator is the owner, else an OWNER/ADMIN of the org, else the service.
 */
import { randomUUID } from 'node:crypto';
import { isUuid, type Tx } from '@cos/db';
import type { StoredEvent, StoredOf } from '@cos/event-store';
import type { AssigneeRef, CustomerEvent } from '@cos/events';
import { executeTask } from '../../commands/task-commands';
import { TITLE_MAX } from '../../domain/inputs';
import { findOrgOwner, isInactiveMember } from '../../store/directory-store';
import { findTaskIdByOriginKey } from '../../store/task-store';
import { reactionMetadata } from '../subjects';

export const churnOriginKey = (customerId: string, episode: number) => `churn:${customerId}:${episode}`;

export function churnTaskTitle(name: string): string {
  const title = `Follow up: ${name.trim() || 'a customer'} is at risk of churn`;
  return title.length <= TITLE_MAX ? title : `${title.slice(0, TITLE_MAX - 1)}…`;
}

export async function handleCustomersEvent(tx: Tx, incoming: StoredEvent): Promise<void> {
  const event = incoming as StoredOf<CustomerEvent>;
  if (event.type !== 'ChurnRiskFlagged') return;
  const d = event.data;
  const originKey = churnOriginKey(d.customerId, d.episode);
  if (await findTaskIdByOriginKey(tx, event.orgId, originKey)) return;
  // The customers service checked the owner when it was set; the members directory may lag behind identity, so
  // only an owner known to have left is skipped.
  const assignee: AssigneeRef | null =
    d.ownerId && isUuid(d.ownerId) && !(await isInactiveMember(tx, event.orgId, d.ownerId)) ? { id: d.ownerId, kind: 'User' } : null;
  const createdBy = assignee?.id ?? (await findOrgOwner(tx, event.orgId)) ?? 'service:tasks';
  const taskId = randomUUID();
  await executeTask(tx, {
    orgId: event.orgId,
    taskId,
    metadata: reactionMetadata(incoming),
    command: {
      type: 'CreateTask',
      taskId,
      title: churnTaskTitle(d.name),
      description: `Health score ${d.score} flagged churn risk (episode ${d.episode}). Reach out and agree on next steps.`,
      priority: 'HIGH',
      customerId: d.customerId,
      assignee,
      createdBy,
      dueAt: null,
      origin: { kind: 'churnRisk', key: originKey },
    },
  });
}
