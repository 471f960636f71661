/**
 * `/unsubscribe?token=…` (public, forwarded by the gateway; README "Email"): the link and List-Unsubscribe target of
 * every optional notification mail. GET shows what the link turns off and a confirm button and changes nothing (link
 * scanners and prefetchers follow links in mails); POST applies it — RFC 8058 one-click: mail clients POST
 * `List-Unsubscribe=One-Click` without cookies or session, so the signed token is the only credential. The opt-out is
 * NotificationPreferencesChanged (via 'unsubscribe') on the person's User stream, in the organization the mail was
 * about: an audit entry, and what the mailer consumes. A missing, malformed, tampered or foreign token: 400
 * INVALID_UNSUBSCRIBE_TOKEN; an erased person: 400 too (nobody left to unsubscribe).
 */
import { INVALID_UNSUBSCRIBE_TOKEN, verifyUnsubscribeToken } from '@cos/auth';
import { NOTIFICATION_KINDS, type NotificationKind } from '@cos/events';
import { readBodyCapped } from '@cos/service-kit';
import type { ServerDeps } from '../deps';
import { changeNotificationPreferences, disabledNotificationsOf } from '../commands/notification-preferences';
import { retryOnConflict } from '../commands/common';

export const UNSUBSCRIBE_PATH = '/unsubscribe';

const LABELS: Record<NotificationKind, string> = {
  APPROVAL_REQUESTED: 'approval requests',
  TASK_ASSIGNED: 'task assignments',
  CHURN_RISK: 'churn-risk alerts',
};

const headers = { 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'x-content-type-options': 'nosniff' };
const page = (status: number, title: string, body: string) =>
  new Response(
    `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body style="font-family:sans-serif;max-width:36em;margin:3em auto">${body}</body></html>`,
    { status, headers: { ...headers, 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'" } },
  );
const json = (status: number, body: unknown) => Response.json(body, { status, headers });

export function unsubscribeRoute(deps: ServerDeps): (req: Request) => Promise<Response> {
  return async (req) => {
    const wantsHtml = (req.headers.get('accept') ?? '').includes('text/html');
    const invalid = () =>
      wantsHtml
        ? page(400, 'Invalid link', `<p>This unsubscribe link is not valid (${INVALID_UNSUBSCRIBE_TOKEN}).</p>`)
        : json(400, { error: { code: INVALID_UNSUBSCRIBE_TOKEN, message: 'The unsubscribe token is missing, malformed or not ours' } });
    if (req.method !== 'GET' && req.method !== 'POST') return json(405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'GET or POST' } });
    // One-click bodies are `List-Unsubscribe=One-Click`; nothing bigger is read.
    if (req.method === 'POST' && !(await readBodyCapped(req, 1_024))) return json(413, { error: { code: 'PAYLOAD_TOO_LARGE', message: 'Body too large' } });
    const token = new URL(req.url).searchParams.get('token') ?? '';
    const claim = deps.config.unsubscribeSecret ? verifyUnsubscribeToken(deps.config.unsubscribeSecret, token, NOTIFICATION_KINDS) : null;
    if (!claim) return invalid();
    const kind = claim.kind as NotificationKind;
    if (req.method === 'GET') {
      const action = `${UNSUBSCRIBE_PATH}?token=${encodeURIComponent(token)}`;
      return page(200, 'Unsubscribe', `<p>Stop emails about ${LABELS[kind]}?</p><form method="post" action="${action}"><button type="submit">Unsubscribe</button></form>`);
    }
    const applied = await retryOnConflict(() =>
      deps.systemDb.tx({ orgId: null }, async (tx) => {
        const erased = await tx.one(`/* unsubscribeErased */ SELECT 1 FROM users WHERE id = $1 AND erased_at IS NOT NULL`, [claim.userId]);
        const known = await tx.one(`/* unsubscribeKnown */ SELECT 1 FROM users WHERE id = $1`, [claim.userId]);
        if (erased || !known) return false;
        const disabled = await disabledNotificationsOf(tx, claim.userId);
        await changeNotificationPreferences(tx, {
          orgId: claim.orgId,
          userId: claim.userId,
          disabled: [...disabled, kind],
          via: 'unsubscribe',
          metadata: { actor: `user:${claim.userId}`, correlationId: req.headers.get('x-request-id') ?? crypto.randomUUID(), causationId: null },
        });
        return true;
      }),
    );
    if (!applied) return invalid();
    deps.log.info({ userId: claim.userId, kind }, 'unsubscribed by link');
    return wantsHtml ? page(200, 'Unsubscribed', `<p>You will no longer receive emails about ${LABELS[kind]}.</p>`) : json(200, { unsubscribed: true, kind });
  };
}
