import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listDeadMails, retryDeadMails } from '../src/store';
import { verifyUnsubscribeToken } from '@cos/auth';
import { OPTIONAL_KINDS } from '../src/unsubscribe';
import { createMailerHarness, SECRET, waitFor, type MailerHarness } from './harness';

let h: MailerHarness;
const orgId = randomUUID();
const ownerId = randomUUID();
const ownerEmail = `owner-${ownerId.slice(0, 8)}@cos.test`;
const actor = (id: string) => ({ actor: `user:${id}`, correlationId: randomUUID(), causationId: null });

/** A person in the organization (UserRegistered + MemberJoined), with a mail address of their own. */
async function member(role = 'MEMBER', name = 'Ada Member'): Promise<{ userId: string; email: string }> {
  const userId = randomUUID();
  const email = `${role.toLowerCase()}-${userId.slice(0, 8)}@cos.test`;
  await h.publish('identity', 'User', { type: 'UserRegistered', orgId, data: { userId, email, name } });
  await h.publish('identity', 'Organization', { type: 'MemberJoined', orgId, data: { organizationId: orgId, userId, name, role } });
  return { userId, email };
}

async function createTask(title: string, extra: Record<string, unknown> = {}): Promise<string> {
  const taskId = randomUUID();
  await h.publish('tasks', 'Task', {
    type: 'TaskCreated',
    orgId,
    data: { taskId, title, description: null, priority: 'MEDIUM', status: 'TODO', customerId: null, assignee: null, createdBy: ownerId, dueAt: null, ...extra },
    metadata: actor(ownerId),
  });
  return taskId;
}

const assign = (taskId: string, userId: string, id?: string) =>
  h.publish('tasks', 'Task', { id, type: 'TaskAssigned', orgId, data: { taskId, assignee: { id: userId, kind: 'User' }, previous: null }, metadata: actor(ownerId) });

/** Assigns a fresh task to `sentinel` and waits for that mail: everything the tasks consumer had before is done. */
async function tasksSettled(sentinel: { userId: string; email: string }): Promise<void> {
  const before = h.smtp.to(sentinel.email).length;
  await assign(await createTask(`sentinel ${randomUUID()}`), sentinel.userId);
  await waitFor(() => h.smtp.to(sentinel.email).length > before, 10_000, 'sentinel mail');
}

beforeAll(async () => {
  h = await createMailerHarness({ maxAttempts: 3 });
  await h.publish('identity', 'Organization', { type: 'OrganizationCreated', orgId, data: { organizationId: orgId, name: 'Acme & Co', slug: 'acme', ownerId } });
  await h.publish('identity', 'User', { type: 'UserRegistered', orgId, data: { userId: ownerId, email: ownerEmail, name: 'Olga Owner' } });
  await h.publish('identity', 'Organization', { type: 'MemberJoined', orgId, data: { organizationId: orgId, userId: ownerId, name: 'Olga Owner', role: 'OWNER' } });
});

afterAll(async () => {
  await h?.teardown();
});

describe('mailer', () => {
  it('mails an assignment over SMTP: escaped HTML, text part, unsubscribe link and RFC 8058 headers', async () => {
    const ada = await member();
    const taskId = await createTask('Fix <script>alert(1)</script> & ship');
    await assign(taskId, ada.userId);
    const [mail] = await waitFor(() => h.smtp.to(ada.email).length > 0 && h.smtp.to(ada.email), 10_000, 'assignment mail');
    expect(mail!.headers.subject).toContain('Task assigned to you');
    expect(mail!.decoded).toContain('Fix &lt;script&gt;alert(1)&lt;/script&gt; &amp; ship');
    const html = mail!.decoded.slice(mail!.decoded.indexOf('Content-Type: text/html'));
    expect(html).toContain('<a href=');
    expect(html).not.toContain('<script>');
    expect(mail!.decoded).toContain('Content-Type: text/plain');
    expect(mail!.decoded).toContain(`http://cos.test/tasks/${taskId}`);
    expect(mail!.headers['list-unsubscribe-post']).toBe('List-Unsubscribe=One-Click');
    expect(mail!.headers['list-unsubscribe']).toMatch(/^<http:\/\/cos\.test\/unsubscribe\?token=[\w-]+\.[\w-]+>$/);
    await waitFor(async () => (await h.sql(`SELECT 1 FROM mails WHERE to_address = $1 AND status = 'SENT'`, [ada.email])).length === 1, 5_000, 'SENT');
  });

  it('sends the invitation with its accept link, and nothing when the invitee was erased', async () => {
    const userId = randomUUID();
    const email = `invitee-${userId.slice(0, 8)}@cos.test`;
    await h.publish('identity', 'Invitation', {
      type: 'InvitationCreated',
      orgId,
      data: { invitationId: randomUUID(), userId, email, name: 'Ivy', role: 'MEMBER', tokenHash: 'x', expiresAt: new Date(Date.now() + 86_400_000).toISOString(), acceptUrl: 'http://cos.test/accept-invitation?token=abc' },
    });
    const [mail] = await waitFor(() => h.smtp.to(email).length > 0 && h.smtp.to(email), 10_000, 'invitation');
    expect(mail!.headers.subject).toBe('You are invited to Acme & Co');
    expect(mail!.decoded).toContain('http://cos.test/accept-invitation?token=abc');
    expect(mail!.headers['list-unsubscribe']).toBeUndefined();

    // Erased before the mailer saw the invitation: its sealed fields open to null; nothing is queued.
    const erasedId = randomUUID();
    await h.publish('identity', 'User', { type: 'UserErased', orgId, data: { userId: erasedId } });
    await h.publish('identity', 'Invitation', {
      type: 'InvitationCreated',
      orgId,
      data: { invitationId: randomUUID(), userId: erasedId, email: null, name: '[erased]', role: 'MEMBER', tokenHash: 'y', expiresAt: new Date().toISOString(), acceptUrl: null },
    });
    const nextEmail = `next-${erasedId.slice(0, 8)}@cos.test`;
    await h.publish('identity', 'Invitation', {
      type: 'InvitationCreated',
      orgId,
      data: { invitationId: randomUUID(), userId: randomUUID(), email: nextEmail, name: 'Next', role: 'MEMBER', tokenHash: 'z', expiresAt: new Date().toISOString(), acceptUrl: null },
    });
    await waitFor(() => h.smtp.to(nextEmail).length === 1, 10_000, 'next invitation');
    expect(await h.sql(`SELECT 1 FROM mails WHERE recipient_user_id = $1`, [erasedId])).toHaveLength(0);
  });

  it('retries after SMTP failures (451) and delivers once the server recovers', async () => {
    const bo = await member('MEMBER', 'Bo Retry');
    h.smtp.failNext(2);
    await assign(await createTask('retry me'), bo.userId);
    const mails = await waitFor(() => h.smtp.to(bo.email).length > 0 && h.smtp.to(bo.email), 10_000, 'retried mail');
    expect(mails).toHaveLength(1);
    const [row] = await h.sql<{ status: string; attempts: number; last_error: string | null }>(`SELECT status, attempts, last_error FROM mails WHERE recipient_user_id = $1`, [bo.userId]);
    expect(row).toMatchObject({ status: 'SENT', attempts: 3, last_error: null });
  });

  it('marks a mail DEAD after the last attempt; retrying it from the dead letters delivers it', async () => {
    const cy = await member('MEMBER', 'Cy Dead');
    h.smtp.reject.add(cy.email);
    await assign(await createTask('dead letter'), cy.userId);
    const dead = await waitFor(
      async () => (await h.sql<{ status: string; attempts: number; last_error: string }>(`SELECT status, attempts, last_error FROM mails WHERE recipient_user_id = $1 AND status = 'DEAD'`, [cy.userId]))[0],
      10_000,
      'DEAD mail',
    );
    expect(dead.attempts).toBe(3);
    expect(dead.last_error).toMatch(/550|mailbox unavailable|rejected/i);
    const listed = await h.db.tx({ orgId: null }, (tx) => listDeadMails(tx));
    expect(listed.map((m) => m.recipientUserId)).toContain(cy.userId);
    expect(h.smtp.to(cy.email)).toHaveLength(0);
    h.smtp.reject.delete(cy.email);
    const id = listed.find((m) => m.recipientUserId === cy.userId)!.id;
    expect(await h.db.tx({ orgId: null }, (tx) => retryDeadMails(tx, id))).toEqual([id]);
    await waitFor(() => h.smtp.to(cy.email).length === 1, 10_000, 'mail after retry');
  });

  it('honours NotificationPreferencesChanged: an opted-out kind is not mailed, others still are', async () => {
    const di = await member('MEMBER', 'Di Optout');
    const sentinel = await member('MEMBER', 'Sentinel');
    await h.publish('identity', 'User', { type: 'NotificationPreferencesChanged', orgId, data: { userId: di.userId, disabled: ['TASK_ASSIGNED'] } });
    // identity and tasks are separate consumers: wait until the preference is stored before the assignment.
    await waitFor(async () => (await h.sql(`SELECT 1 FROM preferences WHERE user_id = $1`, [di.userId])).length === 1, 10_000, 'preference');
    await assign(await createTask('not for di'), di.userId);
    await tasksSettled(sentinel);
    await h.sender.drain();
    expect(h.smtp.to(di.email)).toHaveLength(0);
    expect(await h.sql(`SELECT status, last_error FROM mails WHERE recipient_user_id = $1`, [di.userId])).toEqual([{ status: 'SKIPPED', last_error: 'opted out' }]);
  });

  it('puts a signed unsubscribe link (person, organization, kind) in the mail; the opt-out identity records stops that kind only', async () => {
    const ed = await member('MEMBER', 'Ed Unsub');
    const sentinel = await member('MEMBER', 'Sentinel 2');
    await assign(await createTask('first'), ed.userId);
    const [mail] = await waitFor(() => h.smtp.to(ed.email).length > 0 && h.smtp.to(ed.email), 10_000, 'first mail');
    const link = new URL(mail!.headers['list-unsubscribe']!.slice(1, -1));
    expect(`${link.origin}${link.pathname}`).toBe('http://cos.test/unsubscribe');
    expect(mail!.decoded).toContain(link.toString());
    expect(verifyUnsubscribeToken(SECRET, link.searchParams.get('token')!, OPTIONAL_KINDS)).toEqual({ userId: ed.userId, orgId, kind: 'TASK_ASSIGNED' });
    expect(verifyUnsubscribeToken('another-secret-0123456789abcdef-0123456', link.searchParams.get('token')!, OPTIONAL_KINDS)).toBeNull();

    // What identity appends when the link is clicked (services/identity/test/notification-preferences.int.test.ts).
    await h.publish('identity', 'User', { type: 'NotificationPreferencesChanged', orgId, data: { userId: ed.userId, disabled: ['TASK_ASSIGNED'], via: 'unsubscribe' } });
    await waitFor(async () => (await h.sql(`SELECT 1 FROM preferences WHERE user_id = $1`, [ed.userId])).length === 1, 10_000, 'preference');
    await assign(await createTask('second'), ed.userId);
    await h.publish('customers', 'Customer', { type: 'ChurnRiskFlagged', orgId, data: { customerId: randomUUID(), name: 'Umbrella', score: 20, ownerId: ed.userId, episode: 1 } });
    await tasksSettled(sentinel);
    await waitFor(() => h.smtp.to(ed.email).some((m) => m.headers.subject?.startsWith('Churn risk')), 10_000, 'churn mail still sent');
    expect(h.smtp.to(ed.email).filter((m) => m.headers.subject?.startsWith('Task assigned'))).toHaveLength(1);
  });

  it('mails nobody erased: UserErased drops the address and the unsent mails, later events send nothing', async () => {
    const fe = await member('MEMBER', 'Fe Erased');
    const sentinel = await member('MEMBER', 'Sentinel 3');
    h.smtp.reject.add(fe.email); // keeps the first mail pending/retrying while we erase
    await assign(await createTask('before erasure'), fe.userId);
    await waitFor(async () => (await h.sql(`SELECT 1 FROM mails WHERE recipient_user_id = $1 AND last_error IS NOT NULL`, [fe.userId])).length === 1, 10_000, 'failed attempt');
    await h.publish('identity', 'User', { type: 'UserErased', orgId, data: { userId: fe.userId } });
    await waitFor(async () => (await h.sql(`SELECT 1 FROM recipients WHERE user_id = $1 AND erased_at IS NOT NULL AND email IS NULL`, [fe.userId])).length === 1, 10_000, 'erasure');
    expect(await h.sql(`SELECT 1 FROM mails WHERE recipient_user_id = $1`, [fe.userId])).toHaveLength(0);
    await h.sender.drain(); // a send already in flight at the erasure ends (refused) before the server accepts again
    h.smtp.reject.delete(fe.email);
    // A replayed UserRegistered (opened with the key gone: email null) does not bring the address back.
    await h.publish('identity', 'User', { type: 'UserRegistered', orgId, data: { userId: fe.userId, email: null, name: '[erased]' } });
    await assign(await createTask('after erasure'), fe.userId);
    await tasksSettled(sentinel);
    await h.sender.drain();
    expect(h.smtp.to(fe.email).map((m) => m.headers.subject)).toEqual([]);
  });

  it('mails once when an event is delivered again (a dead letter replayed under a new message id)', async () => {
    const gi = await member('MEMBER', 'Gi Once');
    const sentinel = await member('MEMBER', 'Sentinel 4');
    const taskId = await createTask('exactly once');
    const e = await assign(taskId, gi.userId);
    await waitFor(() => h.smtp.to(gi.email).length === 1, 10_000, 'first delivery');
    // Same event, new msgID: JetStream's de-duplication does not catch it, the inbox (and mails_once) must.
    await assign(taskId, gi.userId, e.id);
    await h.bus.js.publish(`${h.bus.prefix}.${orgId}.tasks.Task.TaskAssigned`, JSON.stringify({ ...e }), { msgID: `${e.id}:replay:1` });
    await tasksSettled(sentinel);
    await h.sender.drain();
    expect(h.smtp.to(gi.email)).toHaveLength(1);
  });

  it('alerts the customer owner of a churn risk, and the admins of an ownerless customer', async () => {
    const customerId = randomUUID();
    await h.publish('customers', 'Customer', { type: 'ChurnRiskFlagged', orgId, data: { customerId, name: 'Globex <b>', score: 31, ownerId: null, episode: 1 } });
    const globex = () => h.smtp.received.filter((m) => m.headers.subject?.startsWith('Churn risk: Globex'));
    const mails = await waitFor(() => globex().length > 0 && globex(), 10_000, 'churn mail');
    expect(mails.map((m) => m.to[0])).toEqual([ownerEmail]);
    expect(mails[0]!.decoded).toContain('Globex &lt;b&gt;');
  });

  it('mails an approved support reply to the customer contact, and approvers get the approval request', async () => {
    const customerId = randomUUID();
    const contactEmail = `contact-${customerId.slice(0, 8)}@customer.test`;
    await h.publish('customers', 'Customer', {
      type: 'CustomerCreated',
      orgId,
      data: { customerId, name: 'Initech', domain: null, plan: null, mrr: null, ownerId: null, contacts: [{ id: randomUUID(), name: 'Peter', email: contactEmail }] },
    });
    const taskId = await createTask('Printer on fire', { customerId });
    const approvalId = randomUUID();
    await h.publish('tasks', 'Approval', {
      type: 'ApprovalRequested',
      orgId,
      data: { approvalId, taskId, runId: randomUUID(), agentId: randomUUID(), action: 'support.sendReply', payload: { draft: 'Hello' } },
    });
    await waitFor(() => h.smtp.to(ownerEmail).some((m) => m.headers.subject?.startsWith('Approval requested')), 10_000, 'approval mail');
    await waitFor(async () => (await h.sql(`SELECT 1 FROM contacts WHERE customer_id = $1`, [customerId])).length === 1, 10_000, 'contact');
    await h.publish('tasks', 'Task', {
      type: 'CommentAdded',
      orgId,
      data: { taskId, commentId: approvalId, body: 'Hello Peter,\n\nwe are on it.', authorId: ownerId, draftedBy: { agentId: randomUUID(), approvalId } },
    });
    const [reply] = await waitFor(() => h.smtp.to(contactEmail).length > 0 && h.smtp.to(contactEmail), 10_000, 'reply mail');
    expect(reply!.headers.subject).toBe('Re: Printer on fire');
    expect(reply!.decoded).toContain('we are on it.');
    expect(reply!.headers['list-unsubscribe']).toBeUndefined();

    // Erasing the contact removes it and every mail to its address.
    const [contact] = await h.sql<{ contact_id: string }>(`SELECT contact_id FROM contacts WHERE customer_id = $1`, [customerId]);
    await h.publish('customers', 'Customer', { type: 'CustomerContactErased', orgId, data: { customerId, contactId: contact!.contact_id } });
    await waitFor(async () => (await h.sql(`SELECT 1 FROM mails WHERE lower(to_address) = $1`, [contactEmail])).length === 0, 10_000, 'contact mails erased');
    expect(await h.sql(`SELECT 1 FROM contacts WHERE customer_id = $1`, [customerId])).toHaveLength(0);
  });
});
