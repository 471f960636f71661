import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../src/sender';
import { escapeHtml, renderMail } from '../src/templates';
import { signUnsubscribeToken, verifyUnsubscribeToken } from '@cos/auth';
import { OPTIONAL_KINDS } from '../src/unsubscribe';

const secret = 'unit-test-secret-0123456789abcdef0123';
const userId = '6b0c1f5e-1f7a-4c55-9a53-3f1f0a6f3b11';
const orgId = '0c9a7f3e-2b1d-4e6f-8a9b-1c2d3e4f5a6b';
const verify = (s: string, t: string) => verifyUnsubscribeToken(s, t, OPTIONAL_KINDS);

describe('unsubscribe tokens', () => {
  it('round-trips and refuses tampering, other secrets and kinds one cannot opt out of', () => {
    const token = signUnsubscribeToken(secret, { userId, orgId, kind: 'CHURN_RISK' });
    expect(verify(secret, token)).toEqual({ userId, orgId, kind: 'CHURN_RISK' });
    expect(verify('another-secret-0123456789abcdef0123', token)).toBeNull();
    const [payload, sig] = token.split('.') as [string, string];
    const swapped = Buffer.from(`${userId}:${orgId}:TASK_ASSIGNED`).toString('base64url');
    expect(verify(secret, `${swapped}.${sig}`)).toBeNull();
    expect(verify(secret, `${payload}.${sig.slice(0, -2)}`)).toBeNull();
    expect(verify(secret, `${payload}`)).toBeNull();
    expect(verify(secret, signUnsubscribeToken(secret, { userId, orgId, kind: 'INVITATION' }))).toBeNull();
    expect(verify(secret, signUnsubscribeToken(secret, { userId: 'not-a-uuid', orgId, kind: 'CHURN_RISK' }))).toBeNull();
  });
});

describe('templates', () => {
  it('escapes everything from events in the HTML part and keeps header injection out of the subject', () => {
    const m = renderMail({ kind: 'TASK_ASSIGNED', name: '<b>Eve</b>', organization: 'A&B', taskTitle: 'x\r\nBcc: evil@x.test "<img src=x>"', taskUrl: 'http://x.test/tasks/1?a=1&b=2' }, 'http://x.test/unsubscribe?token=t');
    expect(m.subject).not.toMatch(/[\r\n]/);
    expect(m.html).toContain('&lt;b&gt;Eve&lt;/b&gt;');
    expect(m.html).toContain('&quot;&lt;img src=x&gt;&quot;');
    expect(m.html).toContain('href="http://x.test/tasks/1?a=1&amp;b=2"');
    expect(m.html).not.toContain('<img');
    expect(m.text).toContain('Stop these emails: http://x.test/unsubscribe?token=t');
    expect(escapeHtml(`'"&<>`)).toBe('&#39;&quot;&amp;&lt;&gt;');
  });
});

describe('retry backoff', () => {
  it('doubles per failed attempt with ±20% jitter, capped', () => {
    expect(retryDelayMs(1, 1000, 60_000, () => 0.5)).toBe(1000);
    expect(retryDelayMs(3, 1000, 60_000, () => 0.5)).toBe(4000);
    expect(retryDelayMs(3, 1000, 60_000, () => 0)).toBe(3200);
    expect(retryDelayMs(3, 1000, 60_000, () => 1)).toBe(4800);
    expect(retryDelayMs(20, 1000, 60_000, () => 1)).toBe(60_000);
  });
});
