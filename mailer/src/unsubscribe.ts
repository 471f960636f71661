import { createHmac, timingSafeEqual } from 'node:crypto';

/** The notification kinds a person can opt out of (one unsubscribe link per kind). */
export const NOTIFICATION_KINDS = ['INVITATION', 'APPROVAL_REQUESTED', 'TASK_ASSIGNED', 'CHURN_RISK', 'SUPPORT_REPLY'] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];
/** Kinds a person can turn off: invitations and replies to customers are not subscriptions. */
export const OPTIONAL_KINDS: readonly NotificationKind[] = ['APPROVAL_REQUESTED', 'TASK_ASSIGNED', 'CHURN_RISK'];

export interface UnsubscribeClaim {
  userId: string;
  kind: NotificationKind;
}

const b64 = (b: Buffer) => b.toString('base64url');
const mac = (secret: string, payload: string) => createHmac('sha256', secret).update(`cos-unsubscribe:v1:${payload}`).digest();

/**
 * `<base64url(userId:kind)>.<base64url(HMAC-SHA256)>`: no expiry (RFC 8058 links must keep working in old mails);
 * rotating MAIL_UNSUBSCRIBE_SECRET invalidates every link sent before.
 */
export function signUnsubscribeToken(secret: string, claim: UnsubscribeClaim): string {
  const payload = b64(Buffer.from(`${claim.userId}:${claim.kind}`));
  return `${payload}.${b64(mac(secret, payload))}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The claim of a valid token, null for anything malformed, tampered with or signed with another secret. */
export function verifyUnsubscribeToken(secret: string, token: string): UnsubscribeClaim | null {
  const parts = token.split('.');
  if (parts.length !== 2 || !parts[0] || !parts[1] || token.length > 512) return null;
  const [payload, sig] = parts as [string, string];
  const given = Buffer.from(sig, 'base64url');
  const want = mac(secret, payload);
  if (given.length !== want.length || !timingSafeEqual(given, want)) return null;
  const [userId, kind, ...rest] = Buffer.from(payload, 'base64url').toString('utf8').split(':');
  if (rest.length > 0 || !userId || !UUID.test(userId) || !OPTIONAL_KINDS.includes(kind as NotificationKind)) return null;
  return { userId, kind: kind as NotificationKind };
}
