/**
 * Email end to end (README "Email"): the stack with the mailer as processes, SMTP to a server this test starts.
 * An invitation arrives with a working accept link; a task assigned to the new member arrives with an unsubscribe
 * link; following it through the gateway (GET shows, RFC 8058 one-click POST applies) turns those mails off, which
 * the member sees in `notificationPreferences`, and the next assignment sends nothing while others still arrive.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, gqlOk } from '../scripts/lib/graphql-client';
import { startSmtpSink, type SmtpSink } from '../mailer/test/smtp-sink';
import { freePort, startTestStack, type TestStack } from './support/test-stack';

let t: TestStack;
let smtp: SmtpSink;
let ownerToken: string;
let origin: string;
const WAIT = 30_000;

beforeAll(async () => {
  smtp = await startSmtpSink();
  const gatewayPort = await freePort();
  origin = `http://127.0.0.1:${gatewayPort}`;
  t = await startTestStack({
    gatewayPort,
    mailerPort: await freePort(),
    perProcessEnv: {
      mailer: { SMTP_URL: smtp.url, PUBLIC_BASE_URL: origin, MAIL_POLL_MS: '200', MAIL_RETRY_BASE_MS: '200' },
      identity: { INVITE_URL_BASE: `${origin}/accept-invitation` },
    },
  });
  const r = await gqlOk(t.gatewayUrl, `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`, {
    input: { email: 'olga@mail-e2e.test', password: 'correct horse battery', name: 'Olga Owner', organizationName: 'Mail Inc' },
  });
  ownerToken = r.signUp.accessToken;
}, 180_000);

afterAll(async () => {
  await t?.stop();
  await smtp?.close();
});

describe('email', () => {
  it('invites by mail, mails assignments with a one-click unsubscribe that works through the gateway', async () => {
    const email = 'ivy@mail-e2e.test';
    const invited = await gqlOk(t.gatewayUrl, `mutation { inviteMember(email: "${email}", name: "Ivy <Member>", role: MEMBER) { user { id } } }`, {}, { token: ownerToken });
    const ivyId: string = invited.inviteMember.user.id;

    const invitation = await eventually(async () => smtp.to(email)[0], WAIT);
    expect(invitation.headers.subject).toBe('You are invited to Mail Inc');
    expect(invitation.decoded).toContain('Ivy &lt;Member&gt;');
    const acceptUrl = new URL(/(http:\/\/127\.0\.0\.1:\d+\/accept-invitation\?token=[A-Za-z0-9_%-]+)/.exec(invitation.decoded)![1]!);
    const accepted = await gqlOk(t.gatewayUrl, `mutation($t: String!) { acceptInvitation(token: $t, password: "another horse battery") { accessToken } }`, {
      t: acceptUrl.searchParams.get('token'),
    });
    const ivyToken: string = accepted.acceptInvitation.accessToken;

    const assign = async (title: string) => {
      const c = await gqlOk(t.gatewayUrl, `mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }`, { i: { title, priority: 'HIGH' } }, { token: ownerToken });
      await gqlOk(t.gatewayUrl, `mutation($id: ID!, $a: ID) { assignTask(id: $id, assigneeId: $a) { id } }`, { id: c.createTask.id, a: ivyId }, { token: ownerToken });
    };
    await assign('Renew the certificate');
    const assigned = await eventually(async () => smtp.to(email).find((m) => m.headers.subject === 'Task assigned to you: Renew the certificate'), WAIT);
    expect(assigned.headers['list-unsubscribe-post']).toBe('List-Unsubscribe=One-Click');
    const link = assigned.headers['list-unsubscribe']!.slice(1, -1);
    expect(link.startsWith(`${origin}/unsubscribe?token=`)).toBe(true);

    const shown = await fetch(link, { headers: { accept: 'text/html' } });
    expect(shown.status).toBe(200);
    expect(await shown.text()).toContain('task assignments');
    const bad = await fetch(`${link}x`, { method: 'POST', body: 'List-Unsubscribe=One-Click' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'INVALID_UNSUBSCRIBE_TOKEN' } });
    const oneClick = await fetch(link, { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(oneClick.status).toBe(200);

    const prefs = await gqlOk(t.gatewayUrl, `{ me { notificationPreferences { enabled disabled } } }`, {}, { token: ivyToken });
    expect(prefs.me.notificationPreferences).toEqual({ enabled: ['APPROVAL_REQUESTED', 'CHURN_RISK'], disabled: ['TASK_ASSIGNED'] });

    // The mailer learns the opt-out from identity's event; the next assignment is then skipped, not mailed.
    const admin = new pg.Client({ connectionString: t.db.adminUrl });
    await admin.connect();
    try {
      await eventually(async () => (await admin.query(`SELECT 1 FROM mailer.preferences WHERE user_id = $1 AND 'TASK_ASSIGNED' = ANY(disabled)`, [ivyId])).rowCount === 1, WAIT);
      const before = smtp.to(email).length;
      await assign('Rotate the keys');
      const row = await eventually(async () => {
        const r = await admin.query(`SELECT status, last_error FROM mailer.mails WHERE recipient_user_id = $1 AND kind = 'TASK_ASSIGNED' ORDER BY created_at DESC LIMIT 1`, [ivyId]);
        return r.rows[0]?.status === 'PENDING' || r.rows[0]?.status === 'SENT' && r.rows.length === 1 ? null : r.rows[0];
      }, WAIT);
      expect(row).toEqual({ status: 'SKIPPED', last_error: 'opted out' });
      expect(smtp.to(email)).toHaveLength(before);
    } finally {
      await admin.end();
    }
  });
});
