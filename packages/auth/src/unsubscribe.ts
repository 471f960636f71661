import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed unsubscribe tokens (README "Email"): the mailer puts one in every optional notification mail (link and
 * List-Unsubscribe header), identity verifies it on `/unsubscribe` and records the opt-out. The token is the only
 * credential of an RFC 8058 one-click request, so it names exactly one person, organization and kind.
 */
export interface UnsubscribeClaim {
  userId: string;
  /** The organization the mail was about (the opt-out is recorded there, an audit entry). */
  orgId: string;
  kind: string;
}

const b64 = (b: Buffer) => b.toString('base64url');
const mac = (secret: string, payload: string) => createHmac('sha256', secret).update(`cos-unsubscribe:v1:${payload}`).digest();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `<base64url(userId:orgId:kind)>.<base64url(HMAC-SHA256)>`. No expiry (links in old mails must keep working);
 * rotating MAIL_UNSUBSCRIBE_SECRET invalidates every link sent before.
 */
export function signUnsubscribeToken(secret: string, claim: UnsubscribeClaim): string {
  const payload = b64(Buffer.from(`${claim.userId}:${claim.orgId}:${claim.kind}`));
  return `${payload}.${b64(mac(secret, payload))}`;
}

/** The claim of a valid token whose kind is one of `kinds`; null for anything malformed, tampered or foreign. */
export function verifyUnsubscribeToken(secret: string, token: string, kinds: readonly string[]): UnsubscribeClaim | null {
  if (token.length > 512) return null;
  const parts = token.split('.');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return null;
  const [payload, sig] = parts as [string, string];
  const given = Buffer.from(sig, 'base64url');
  const want = mac(secret, payload);
  if (given.length !== want.length || !timingSafeEqual(given, want)) return null;
  const [userId, orgId, kind, ...rest] = Buffer.from(payload, 'base64url').toString('utf8').split(':');
  if (rest.length > 0 || !userId || !orgId || !kind || !UUID.test(userId) || !UUID.test(orgId) || !kinds.includes(kind)) return null;
  return { userId, orgId, kind };
}

/** The stable error code of a missing, malformed, tampered or foreign unsubscribe token (HTTP 400). */
export const INVALID_UNSUBSCRIBE_TOKEN = 'INVALID_UNSUBSCRIBE_TOKEN';

/**
 * MAIL_UNSUBSCRIBE_SECRET as the mailer (signs) and identity (verifies) use it: the setting, or outside production a
 * built-in development key both share; production refuses to start without it.
 */
export function unsubscribeSecret(nodeEnv: string, value: string | undefined): string {
  if (value) return value;
  if (nodeEnv === 'production') throw new Error('MAIL_UNSUBSCRIBE_SECRET (or MAIL_UNSUBSCRIBE_SECRET_FILE) is required in production');
  return 'development-unsubscribe-secret-not-for-production';
}
