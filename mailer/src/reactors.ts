/**
 * Events -> directory rows and queued mails. Each handler runs in the consumer's transaction with its inbox row
 * (@cos/bus startConsumer), and a mail is unique per (event, kind, address): a redelivered or replayed event never
 * mails twice.
 */
import type { Tx } from '@cos/db';
import type { StoredEvent, StoredOf } from '@cos/event-store';
import type { CustomerEvent, IdentityEvent, TaskEvent } from '@cos/events';
import {
  contactsOf,
  enqueueMail,
  eraseContact,
  eraseRecipient,
  isErased,
  membersWithRole,
  organizationName,
  removeMember,
  setDisabledKinds,
  taskTitle,
  upsertContact,
  upsertMember,
  upsertOrganization,
  upsertRecipient,
  upsertTaskTitle,
  type MailLinks,
} from './store';
import { OPTIONAL_KINDS } from './unsubscribe';

/** Who decides approvals by mail: the organization's admins (any MEMBER may decide in the app). */
const APPROVERS = ['OWNER', 'ADMIN'];
/** Who hears of an ownerless customer's churn risk. */
const CUSTOMER_ADMINS = ['OWNER', 'ADMIN'];

const base = (links: MailLinks) => links.publicBaseUrl.replace(/\/$/, '');

export function createIdentityReactor() {
  return async (tx: Tx, incoming: StoredEvent): Promise<void> => {
    const event = incoming as StoredOf<IdentityEvent>;
    switch (event.type) {
      case 'OrganizationCreated':
        await upsertOrganization(tx, event.orgId, event.data.name);
        return;
      case 'UserRegistered':
        // An erased person's events open with email null: upsertRecipient never revives a tombstone.
        await upsertRecipient(tx, { userId: event.data.userId, email: event.data.email, name: event.data.name });
        return;
      case 'MemberJoined':
        await upsertMember(tx, event.orgId, event.data.userId, event.data.role);
        return;
      case 'MemberRoleChanged':
        await upsertMember(tx, event.orgId, event.data.userId, event.data.role);
        return;
      case 'MemberRemoved':
        await removeMember(tx, event.orgId, event.data.userId);
        return;
      case 'UserErased':
        await eraseRecipient(tx, event.data.userId);
        return;
      case 'NotificationPreferencesChanged':
        await setDisabledKinds(
          tx,
          event.data.userId,
          event.data.disabled.filter((k) => (OPTIONAL_KINDS as readonly string[]).includes(k)),
        );
        return;
      case 'InvitationCreated': {
        const d = event.data;
        if (d.userId) await upsertRecipient(tx, { userId: d.userId, email: d.email, name: d.name });
        // Erased before we got here (sealed fields opened to null), or an invitation of an erased person: no mail.
        if (!d.email) return;
        if (d.userId && (await isErased(tx, d.userId))) return;
        await enqueueMail(tx, {
          orgId: event.orgId,
          eventId: event.id,
          recipient: d.userId ? { userId: d.userId, email: d.email } : { userId: null, email: d.email, name: d.name },
          template: { kind: 'INVITATION', name: d.name, organization: await organizationName(tx, event.orgId), role: d.role, acceptUrl: d.acceptUrl ?? null },
        });
        return;
      }
      default:
        return;
    }
  };
}

export function createTasksReactor(links: MailLinks) {
  const assigned = async (tx: Tx, event: StoredEvent, taskId: string, userId: string) => {
    if (event.metadata?.actor === `user:${userId}`) return; // assigning oneself is no news
    await enqueueMail(tx, {
      orgId: event.orgId,
      eventId: event.id,
      recipient: { userId },
      template: {
        kind: 'TASK_ASSIGNED',
        name: '',
        organization: await organizationName(tx, event.orgId),
        taskTitle: await taskTitle(tx, taskId),
        taskUrl: `${base(links)}/tasks/${taskId}`,
      },
    });
  };
  return async (tx: Tx, incoming: StoredEvent): Promise<void> => {
    const event = incoming as StoredOf<TaskEvent>;
    switch (event.type) {
      case 'TaskCreated':
        await upsertTaskTitle(tx, event.orgId, event.data.taskId, event.data.title, event.data.customerId);
        if (event.data.assignee?.kind === 'User') await assigned(tx, event, event.data.taskId, event.data.assignee.id);
        return;
      case 'TaskUpdated':
        if (event.data.changes.title !== undefined || event.data.changes.customerId !== undefined) {
          await upsertTaskTitle(tx, event.orgId, event.data.taskId, event.data.changes.title, event.data.changes.customerId);
        }
        return;
      case 'TaskAssigned':
        if (event.data.assignee?.kind === 'User') await assigned(tx, event, event.data.taskId, event.data.assignee.id);
        return;
      case 'ApprovalRequested': {
        if (event.data.action === 'support.sendReply') {
          await tx.query(`/* rememberReplyApproval */ INSERT INTO reply_approvals (approval_id, org_id, task_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
            event.data.approvalId,
            event.orgId,
            event.data.taskId,
          ]);
        }
        const organization = await organizationName(tx, event.orgId);
        const title = await taskTitle(tx, event.data.taskId);
        for (const userId of await membersWithRole(tx, event.orgId, APPROVERS)) {
          await enqueueMail(tx, {
            orgId: event.orgId,
            eventId: event.id,
            recipient: { userId },
            template: {
              kind: 'APPROVAL_REQUESTED',
              name: '',
              organization,
              taskTitle: title,
              action: event.data.action,
              taskUrl: `${base(links)}/tasks/${event.data.taskId}`,
            },
          });
        }
        return;
      }
      case 'CommentAdded': {
        // An approved support.sendReply posts the reply as a comment drafted by the agent (tasks applies it with
        // the decision, exactly once): that comment is what the customer's contact receives.
        const approvalId = event.data.draftedBy?.approvalId;
        if (!approvalId) return;
        const approval = await tx.one<{ taskId: string }>(`/* replyApproval */ SELECT task_id AS "taskId" FROM reply_approvals WHERE approval_id = $1`, [approvalId]);
        if (!approval) return;
        const task = await tx.one<{ customerId: string | null; title: string }>(
          `/* replyTask */ SELECT customer_id AS "customerId", title FROM task_titles WHERE task_id = $1`,
          [approval.taskId],
        );
        if (!task?.customerId) return;
        const [contact] = await contactsOf(tx, task.customerId);
        if (!contact) return;
        await enqueueMail(tx, {
          orgId: event.orgId,
          eventId: event.id,
          recipient: { userId: null, email: contact.email, name: contact.name },
          template: {
            kind: 'SUPPORT_REPLY',
            name: contact.name,
            organization: await organizationName(tx, event.orgId),
            subject: `Re: ${task.title}`,
            body: event.data.body,
          },
        });
        return;
      }
      default:
        return;
    }
  };
}

export function createCustomersReactor(links: MailLinks) {
  return async (tx: Tx, incoming: StoredEvent): Promise<void> => {
    const event = incoming as StoredOf<CustomerEvent>;
    switch (event.type) {
      case 'CustomerCreated':
        for (const c of event.data.contacts) {
          await upsertContact(tx, { contactId: c.id, customerId: event.data.customerId, orgId: event.orgId, email: c.email, name: c.name });
        }
        return;
      case 'CustomerContactErased':
        await eraseContact(tx, event.data.contactId);
        return;
      case 'ChurnRiskFlagged': {
        const recipients = event.data.ownerId ? [event.data.ownerId] : await membersWithRole(tx, event.orgId, CUSTOMER_ADMINS);
        const organization = await organizationName(tx, event.orgId);
        for (const userId of recipients) {
          await enqueueMail(tx, {
            orgId: event.orgId,
            eventId: event.id,
            recipient: { userId },
            template: {
              kind: 'CHURN_RISK',
              name: '',
              organization,
              customer: event.data.name,
              score: event.data.score,
              customerUrl: `${base(links)}/customers/${event.data.customerId}`,
            },
          });
        }
        return;
      }
      default:
        return;
    }
  };
}
