import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUnsubscribeToken, type Principal } from '@cos/auth';
import { userPrincipal } from '@cos/testing';
import { signUp, startIdentity, TEST_UNSUBSCRIBE_SECRET, uniqueEmail, type Identity, type Session } from './harness';

let id: Identity;
let owner: Session;
let ownerP: Principal;
beforeAll(async () => {
  id = await startIdentity();
  owner = await signUp(id, { organizationName: 'Prefs Inc' });
  ownerP = userPrincipal(owner.user.id, owner.organization.id, 'OWNER');
});
afterAll(async () => {
  await id?.close();
});

const ME = `{ me { id notificationPreferences { enabled disabled } } }`;
const UPDATE = `mutation($d: [NotificationKind!]!) { updateNotificationPreferences(input: { disabled: $d }) { enabled disabled } }`;
const unsubscribe = (token: string, init: RequestInit = {}) => id.yoga.fetch(`http://identity.test/unsubscribe?token=${encodeURIComponent(token)}`, init);
const oneClick = { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } };
const prefEvents = (userId: string) =>
  id.admin<{ org_id: string; data: { disabled: string[]; via: string } }>(
    `SELECT org_id, data FROM events WHERE type = 'NotificationPreferencesChanged' AND stream_id = $1 ORDER BY global_position`,
    [`User-${userId}`],
  );

describe('notification preferences', () => {
  it('everything is on at first; updateNotificationPreferences records the change as an event, once', async () => {
    const before = await id.exec(ownerP, ME);
    expect(before.data!.me.notificationPreferences).toEqual({ enabled: ['APPROVAL_REQUESTED', 'TASK_ASSIGNED', 'CHURN_RISK'], disabled: [] });
    const r = await id.exec(ownerP, UPDATE, { d: ['TASK_ASSIGNED'] });
    expect(r.errors).toBeUndefined();
    expect(r.data!.updateNotificationPreferences).toEqual({ enabled: ['APPROVAL_REQUESTED', 'CHURN_RISK'], disabled: ['TASK_ASSIGNED'] });
    await id.exec(ownerP, UPDATE, { d: ['TASK_ASSIGNED'] }); // the same set again: no second event
    expect(await prefEvents(owner.user.id)).toEqual([{ org_id: owner.organization.id, data: { userId: owner.user.id, disabled: ['TASK_ASSIGNED'], via: 'graph' } }]);
    expect((await id.exec(ownerP, ME)).data!.me.notificationPreferences.disabled).toEqual(['TASK_ASSIGNED']);
    await id.exec(ownerP, UPDATE, { d: [] });
  });

  it('are the person\'s own: anyone else reading them is FORBIDDEN', async () => {
    const other = await signUp(id, { organizationName: 'Elsewhere' });
    const r = await id.exec(userPrincipal(other.user.id, other.organization.id, 'OWNER'), `query($id: ID!) { user(id: $id) { notificationPreferences { disabled } } }`, { id: owner.user.id });
    // Not visible across tenants at all (null user), or FORBIDDEN on the field: never the data.
    expect(JSON.stringify(r.data ?? {})).not.toContain('disabled":[');
  });

  it('unsubscribe link: GET shows a confirm form and changes nothing; one-click POST turns the kind off (event via unsubscribe)', async () => {
    const token = signUnsubscribeToken(TEST_UNSUBSCRIBE_SECRET, { userId: owner.user.id, orgId: owner.organization.id, kind: 'CHURN_RISK' });
    const shown = await unsubscribe(token, { headers: { accept: 'text/html' } });
    expect(shown.status).toBe(200);
    expect(await shown.text()).toMatch(/<form method="post" action="\/unsubscribe\?token=/);
    expect((await id.exec(ownerP, ME)).data!.me.notificationPreferences.disabled).toEqual([]);

    const applied = await unsubscribe(token, oneClick);
    expect(applied.status).toBe(200);
    expect(await applied.json()).toEqual({ unsubscribed: true, kind: 'CHURN_RISK' });
    expect((await id.exec(ownerP, ME)).data!.me.notificationPreferences.disabled).toEqual(['CHURN_RISK']);
    const events = await prefEvents(owner.user.id);
    expect(events.at(-1)).toEqual({ org_id: owner.organization.id, data: { userId: owner.user.id, disabled: ['CHURN_RISK'], via: 'unsubscribe' } });
    expect((await unsubscribe(token, oneClick)).status).toBe(200); // a second click: same answer, no new event
    expect(await prefEvents(owner.user.id)).toHaveLength(events.length);
  });

  it('refuses missing, malformed, tampered, foreign and non-optional tokens with 400 INVALID_UNSUBSCRIBE_TOKEN', async () => {
    const good = signUnsubscribeToken(TEST_UNSUBSCRIBE_SECRET, { userId: owner.user.id, orgId: owner.organization.id, kind: 'TASK_ASSIGNED' });
    const [payload, sig] = good.split('.') as [string, string];
    const swapped = Buffer.from(`${owner.user.id}:${owner.organization.id}:APPROVAL_REQUESTED`).toString('base64url');
    const bad = [
      '',
      'garbage',
      `${payload}.${sig.slice(0, -2)}`,
      `${swapped}.${sig}`,
      signUnsubscribeToken('another-secret-0123456789abcdef-0123456', { userId: owner.user.id, orgId: owner.organization.id, kind: 'TASK_ASSIGNED' }),
      signUnsubscribeToken(TEST_UNSUBSCRIBE_SECRET, { userId: owner.user.id, orgId: owner.organization.id, kind: 'INVITATION' }),
    ];
    for (const t of bad) {
      const res = await unsubscribe(t, oneClick);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'INVALID_UNSUBSCRIBE_TOKEN' } });
    }
    const html = await unsubscribe('garbage', { headers: { accept: 'text/html' } });
    expect(html.status).toBe(400);
    expect(await html.text()).toContain('INVALID_UNSUBSCRIBE_TOKEN');
    expect((await id.exec(ownerP, ME)).data!.me.notificationPreferences.disabled).not.toContain('TASK_ASSIGNED');
  });

  it('InvitationCreated carries the accept link for the mailer, sealed with the invitee\'s data key', async () => {
    const email = uniqueEmail('invitee');
    const r = await id.exec(ownerP, `mutation($e: String!) { inviteMember(email: $e, name: "Ivy", role: MEMBER) { user { id } } }`, { e: email });
    expect(r.errors).toBeUndefined();
    const [row] = await id.admin<{ data: Record<string, unknown> }>(`SELECT data FROM events WHERE type = 'InvitationCreated' AND data->'userId' ? 'c' IS NOT TRUE ORDER BY global_position DESC LIMIT 1`);
    expect(row!.data.acceptUrl).toMatchObject({ $pii: 1 });
    expect(JSON.stringify(row!.data)).not.toContain('http://app.test/accept');
  });
});
