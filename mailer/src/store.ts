/** The mailer's SQL (system role): directory, preferences and the mail outbox. */
import { randomUUID } from 'node:crypto';
import type { Tx } from '@cos/db';
import { renderMail, type TemplateInput } from './templates';
import { signUnsubscribeToken } from '@cos/auth';
import { OPTIONAL_KINDS, type NotificationKind } from './unsubscribe';

/** NOTIFY channel that wakes the sender when a mail is queued. */
export const MAIL_CHANNEL = 'cos_mailer_mails';

export const upsertRecipient = (tx: Tx, r: { userId: string; email?: string | null; name?: string | null }) =>
  tx.query(
    `/* upsertRecipient */ INSERT INTO recipients (user_id, email, name) VALUES ($1, $2, $3)
     ON CONFLICT (user_id) DO UPDATE SET email = coalesce(EXCLUDED.email, recipients.email), name = coalesce(EXCLUDED.name, recipients.name)
     WHERE recipients.erased_at IS NULL`,
    [r.userId, r.email ?? null, r.name ?? null],
  );

/** GDPR erasure: the address and name go, the person's unsent mails too; the row stays as a tombstone (no mail ever). */
export async function eraseRecipient(tx: Tx, userId: string): Promise<void> {
  await tx.query(
    `/* eraseRecipient */ INSERT INTO recipients (user_id, email, name, erased_at) VALUES ($1, NULL, NULL, now())
     ON CONFLICT (user_id) DO UPDATE SET email = NULL, name = NULL, erased_at = now()`,
    [userId],
  );
  await tx.query(`/* eraseRecipientMails */ DELETE FROM mails WHERE recipient_user_id = $1`, [userId]);
  await tx.query(`/* eraseRecipientMembers */ DELETE FROM members WHERE user_id = $1`, [userId]);
}

/** Whether the person was erased (nothing is ever mailed to them again). */
export const isErased = async (tx: Tx, userId: string) =>
  Boolean(await tx.one(`/* isErased */ SELECT 1 FROM recipients WHERE user_id = $1 AND erased_at IS NOT NULL`, [userId]));

/** Members of an organization with one of the roles (their addresses are resolved at send time). */
export const membersWithRole = async (tx: Tx, orgId: string, roles: string[]) =>
  (await tx.query<{ userId: string }>(`/* membersWithRole */ SELECT user_id AS "userId" FROM members WHERE org_id = $1 AND role = ANY($2) ORDER BY user_id`, [orgId, roles])).map(
    (r) => r.userId,
  );

export const upsertMember = (tx: Tx, orgId: string, userId: string, role: string) =>
  tx.query(
    `/* upsertMember */ INSERT INTO members (org_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT (org_id, user_id) DO UPDATE SET role = EXCLUDED.role`,
    [orgId, userId, role],
  );
export const removeMember = (tx: Tx, orgId: string, userId: string) =>
  tx.query(`/* removeMember */ DELETE FROM members WHERE org_id = $1 AND user_id = $2`, [orgId, userId]);

export const upsertOrganization = (tx: Tx, orgId: string, name: string) =>
  tx.query(`/* upsertOrganization */ INSERT INTO organizations (org_id, name) VALUES ($1, $2) ON CONFLICT (org_id) DO UPDATE SET name = EXCLUDED.name`, [orgId, name]);
export const organizationName = async (tx: Tx, orgId: string) =>
  (await tx.one<{ name: string }>(`/* organizationName */ SELECT name FROM organizations WHERE org_id = $1`, [orgId]))?.name ?? 'your organization';

/** Task titles (and customers) for the mails' text; `undefined` keeps what is stored. */
export const upsertTaskTitle = (tx: Tx, orgId: string, taskId: string, title: string | undefined, customerId: string | null | undefined) =>
  tx.query(
    `/* upsertTaskTitle */ INSERT INTO task_titles (task_id, org_id, title, customer_id) VALUES ($1, $2, coalesce($3, ''), $4)
     ON CONFLICT (task_id) DO UPDATE SET title = coalesce($3, task_titles.title),
       customer_id = CASE WHEN $5 THEN task_titles.customer_id ELSE $4 END`,
    [taskId, orgId, title ?? null, customerId ?? null, customerId === undefined],
  );
export const taskTitle = async (tx: Tx, taskId: string) =>
  (await tx.one<{ title: string }>(`/* taskTitle */ SELECT title FROM task_titles WHERE task_id = $1`, [taskId]))?.title ?? 'a task';

export const upsertContact = (tx: Tx, c: { contactId: string; customerId: string; orgId: string; email: string | null; name: string | null }) =>
  tx.query(
    `/* upsertContact */ INSERT INTO contacts (contact_id, customer_id, org_id, email, name) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (contact_id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name`,
    [c.contactId, c.customerId, c.orgId, c.email, c.name],
  );
/** GDPR erasure of a contact: the contact row and every mail to its address (queued or sent) go. */
export async function eraseContact(tx: Tx, contactId: string): Promise<void> {
  const [c] = await tx.query<{ email: string | null }>(`/* eraseContact */ DELETE FROM contacts WHERE contact_id = $1 RETURNING email`, [contactId]);
  if (c?.email) {
    await tx.query(`/* eraseContactMails */ DELETE FROM mails WHERE recipient_user_id IS NULL AND lower(to_address) = lower($1)`, [c.email]);
  }
}
/** The contacts of a customer that have an address (support replies go to the first). */
export const contactsOf = (tx: Tx, customerId: string) =>
  tx.query<{ contactId: string; email: string; name: string }>(
    `/* contactsOf */ SELECT contact_id AS "contactId", email, coalesce(name, email) AS name FROM contacts WHERE customer_id = $1 AND email IS NOT NULL ORDER BY contact_id`,
    [customerId],
  );

export const setDisabledKinds = (tx: Tx, userId: string, disabled: readonly string[]) =>
  tx.query(
    `/* setDisabledKinds */ INSERT INTO preferences (user_id, disabled, updated_at) VALUES ($1, $2, now())
     ON CONFLICT (user_id) DO UPDATE SET disabled = EXCLUDED.disabled, updated_at = now()`,
    [userId, [...new Set(disabled)].sort()],
  );
export const disabledKinds = async (tx: Tx, userId: string): Promise<string[]> =>
  (await tx.one<{ disabled: string[] }>(`/* disabledKinds */ SELECT disabled FROM preferences WHERE user_id = $1`, [userId]))?.disabled ?? [];

export interface MailLinks {
  publicBaseUrl: string;
  unsubscribeSecret: string;
}

/** A person (address and name from the directory at send time) or a literal address (invitees, contacts). */
export type Recipient = { userId: string; email?: string | null; name?: string } | { userId: null; email: string; name: string };

/**
 * Queues one notification in the consumer's transaction (so it commits with the inbox row), once per (event, kind,
 * recipient). Who, whether (preferences, erasure) and what exactly is decided by the sender at send time.
 */
export async function enqueueMail(tx: Tx, m: { orgId: string; eventId: string; recipient: Recipient; template: TemplateInput }): Promise<boolean> {
  const rows = await tx.query(
    `/* enqueueMail */ INSERT INTO mails (id, org_id, kind, event_id, recipient_user_id, to_address, template)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT ON CONSTRAINT mails_once DO NOTHING RETURNING 1`,
    [randomUUID(), m.orgId, m.template.kind, m.eventId, m.recipient.userId, m.recipient.email ?? null, JSON.stringify(m.template)],
  );
  if (rows.length === 0) return false;
  await tx.query(`/* notifyMail */ SELECT pg_notify($1, '')`, [MAIL_CHANNEL]);
  return true;
}

export interface MailRow {
  id: string;
  orgId: string;
  kind: NotificationKind;
  recipientUserId: string | null;
  to: string | null;
  template: TemplateInput;
  subject: string | null;
  attempts: number;
  status: 'PENDING' | 'SENT' | 'DEAD' | 'SKIPPED';
  lastError: string | null;
  createdAt: Date;
}

const MAIL_COLUMNS = `id, org_id AS "orgId", kind, recipient_user_id AS "recipientUserId", to_address AS "to", template, subject, attempts, status,
  last_error AS "lastError", created_at AS "createdAt"`;

/**
 * Leases up to `limit` due mails (FOR UPDATE SKIP LOCKED: concurrent senders take different rows), counting the
 * attempt and holding each for `leaseMs` so a crashed sender's mail comes back.
 */
export const leaseDueMails = (tx: Tx, limit: number, leaseMs: number) =>
  tx.query<MailRow>(
    `/* leaseDueMails */ UPDATE mails SET attempts = attempts + 1, leased_until = now() + make_interval(secs => $2::float8 / 1000),
       next_attempt_at = now() + make_interval(secs => $2::float8 / 1000)
     WHERE id IN (SELECT id FROM mails WHERE status = 'PENDING' AND next_attempt_at <= now()
                  ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
     RETURNING ${MAIL_COLUMNS}`,
    [limit, leaseMs],
  );

export type Resolution =
  | { outcome: 'send'; to: string; subject: string; text: string; html: string; headers: Record<string, string> }
  | { outcome: 'skip'; reason: string }
  | { outcome: 'wait'; reason: string };

/**
 * What to do with a leased mail now: the person's current address and name (unknown yet: wait for identity's
 * events; erased: skip), their preferences (opted out: skip), then the rendered mail. Optional kinds carry an
 * unsubscribe link and the RFC 8058 List-Unsubscribe headers.
 */
export async function resolveMail(tx: Tx, links: MailLinks, m: MailRow): Promise<Resolution> {
  let to = m.to;
  let template = m.template;
  if (m.recipientUserId) {
    const r = await tx.one<{ email: string | null; name: string | null; erasedAt: Date | null }>(
      `/* recipientAtSend */ SELECT email, name, erased_at AS "erasedAt" FROM recipients WHERE user_id = $1`,
      [m.recipientUserId],
    );
    if (r?.erasedAt) return { outcome: 'skip', reason: 'recipient erased' };
    if (!to) {
      if (!r?.email) return { outcome: 'wait', reason: 'recipient address not known yet' };
      to = r.email;
    }
    if (r?.name) template = { ...template, name: r.name };
    if (OPTIONAL_KINDS.includes(m.kind) && (await disabledKinds(tx, m.recipientUserId)).includes(m.kind)) return { outcome: 'skip', reason: 'opted out' };
  }
  if (!to) return { outcome: 'skip', reason: 'no address' };
  if (!template.name) template = { ...template, name: to };
  const unsubscribeUrl =
    OPTIONAL_KINDS.includes(m.kind) && m.recipientUserId
      ? `${links.publicBaseUrl.replace(/\/$/, '')}/unsubscribe?token=${signUnsubscribeToken(links.unsubscribeSecret, { userId: m.recipientUserId, orgId: m.orgId, kind: m.kind })}`
      : null;
  const mail = renderMail(template, unsubscribeUrl);
  const headers: Record<string, string> = unsubscribeUrl ? { 'List-Unsubscribe': `<${unsubscribeUrl}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } : {};
  return { outcome: 'send', to, ...mail, headers };
}

export const markSent = (tx: Tx, id: string, to: string, subject: string, messageId: string | null) =>
  tx.query(
    `/* markSent */ UPDATE mails SET status = 'SENT', sent_at = now(), leased_until = NULL, to_address = $2, subject = $3, message_id = $4, last_error = NULL WHERE id = $1`,
    [id, to, subject, messageId],
  );

export const markSkipped = (tx: Tx, id: string, reason: string) =>
  tx.query(`/* markSkipped */ UPDATE mails SET status = 'SKIPPED', leased_until = NULL, last_error = $2 WHERE id = $1`, [id, reason]);

export const markRetry = (tx: Tx, id: string, error: string, delayMs: number) =>
  tx.query(
    `/* markRetry */ UPDATE mails SET leased_until = NULL, last_error = $2, next_attempt_at = now() + make_interval(secs => $3::float8 / 1000) WHERE id = $1`,
    [id, error.slice(0, 1000), delayMs],
  );

export const markDead = (tx: Tx, id: string, error: string) =>
  tx.query(`/* markDead */ UPDATE mails SET status = 'DEAD', leased_until = NULL, last_error = $2 WHERE id = $1`, [id, error.slice(0, 1000)]);

export const listDeadMails = (tx: Tx, limit = 100) =>
  tx.query<MailRow>(`/* listDeadMails */ SELECT ${MAIL_COLUMNS} FROM mails WHERE status = 'DEAD' ORDER BY created_at LIMIT $1`, [limit]);

/** Puts dead mails back in the queue with fresh attempts: one id, or every dead mail. Returns the ids. */
export async function retryDeadMails(tx: Tx, target: string | 'all'): Promise<string[]> {
  const rows = await tx.query<{ id: string }>(
    `/* retryDeadMails */ UPDATE mails SET status = 'PENDING', attempts = 0, next_attempt_at = now(), leased_until = NULL
     WHERE status = 'DEAD' AND ($1::uuid IS NULL OR id = $1::uuid) RETURNING id`,
    [target === 'all' ? null : target],
  );
  if (rows.length > 0) await tx.query(`/* notifyMail */ SELECT pg_notify($1, '')`, [MAIL_CHANNEL]);
  return rows.map((r) => r.id);
}
