/**
 * The mailer's HTTP surface: /healthz, /readyz, /metrics, and `/unsubscribe?token=` (public, through the gateway):
 * GET shows what the link turns off and a confirm button, POST applies it — RFC 8058 one-click: mail clients POST
 * `List-Unsubscribe=One-Click` to the List-Unsubscribe URL with no cookie or session, so the signed token is the
 * only credential. A missing, malformed, tampered or foreign token answers 400 `INVALID_UNSUBSCRIBE_TOKEN`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Db } from '@cos/db';
import type { Logger } from '@cos/logger';
import { disableKind } from './store';
import { escapeHtml } from './templates';
import { verifyUnsubscribeToken, type NotificationKind } from './unsubscribe';
import type { MailerMetrics } from './metrics';

export const UNSUBSCRIBE_PATH = '/unsubscribe';
export const INVALID_UNSUBSCRIBE_TOKEN = 'INVALID_UNSUBSCRIBE_TOKEN';

const KIND_LABELS: Record<NotificationKind, string> = {
  INVITATION: 'invitations',
  APPROVAL_REQUESTED: 'approval requests',
  TASK_ASSIGNED: 'task assignments',
  CHURN_RISK: 'churn-risk alerts',
  SUPPORT_REPLY: 'support replies',
};

export interface HttpOptions {
  db: Db;
  secret: string;
  log: Logger;
  metrics?: MailerMetrics;
  /** /readyz checks (Postgres, NATS); each throws when not ready. */
  readiness: Record<string, () => Promise<void>>;
  metricsText?: () => Promise<{ contentType: string; body: string }>;
  isDraining?: () => boolean;
}

const send = (res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(body);
};
const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title></head>` +
  `<body style="font-family:sans-serif;max-width:36em;margin:3em auto">${body}</body></html>`;

/** Form bodies are tiny (`List-Unsubscribe=One-Click`); anything larger is not a one-click request. */
const MAX_FORM_BYTES = 1_024;

async function drainBody(req: IncomingMessage): Promise<boolean> {
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) return false;
  }
  return true;
}

export function createHttpHandler(opts: HttpOptions) {
  const invalid = (res: ServerResponse, wantsHtml: boolean) => {
    opts.metrics?.unsubscribes.inc({ outcome: 'invalid' });
    if (wantsHtml) {
      send(res, 400, 'text/html; charset=utf-8', page('Invalid link', `<p>This unsubscribe link is not valid (${INVALID_UNSUBSCRIBE_TOKEN}).</p>`));
    } else {
      send(res, 400, 'application/json', JSON.stringify({ error: { code: INVALID_UNSUBSCRIBE_TOKEN, message: 'The unsubscribe token is missing, malformed or not ours' } }));
    }
  };

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://mailer');
    try {
      if (url.pathname === '/healthz') return send(res, 200, 'application/json', '{"status":"ok"}');
      if (url.pathname === '/readyz') {
        if (opts.isDraining?.()) return send(res, 503, 'application/json', '{"status":"draining"}');
        const failed: string[] = [];
        await Promise.all(Object.entries(opts.readiness).map(([name, check]) => check().catch(() => failed.push(name))));
        return failed.length ? send(res, 503, 'application/json', JSON.stringify({ status: 'unavailable', failed })) : send(res, 200, 'application/json', '{"status":"ready"}');
      }
      if (url.pathname === '/metrics' && opts.metricsText) {
        const m = await opts.metricsText();
        return send(res, 200, m.contentType, m.body);
      }
      if (url.pathname !== UNSUBSCRIBE_PATH) return send(res, 404, 'application/json', JSON.stringify({ error: { code: 'NOT_FOUND', message: 'Not found' } }));

      const wantsHtml = (req.headers.accept ?? '').includes('text/html');
      if (req.method !== 'GET' && req.method !== 'POST') {
        return send(res, 405, 'application/json', JSON.stringify({ error: { code: 'METHOD_NOT_ALLOWED', message: 'GET or POST' } }), { allow: 'GET, POST' });
      }
      if (req.method === 'POST' && !(await drainBody(req))) {
        return send(res, 413, 'application/json', JSON.stringify({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'Body too large' } }));
      }
      const claim = verifyUnsubscribeToken(opts.secret, url.searchParams.get('token') ?? '');
      if (!claim) return invalid(res, wantsHtml);
      const label = KIND_LABELS[claim.kind];
      if (req.method === 'GET') {
        // GET changes nothing: link scanners and prefetchers follow links in mails.
        opts.metrics?.unsubscribes.inc({ outcome: 'shown' });
        return send(
          res,
          200,
          'text/html; charset=utf-8',
          page(
            'Unsubscribe',
            `<p>Stop emails about ${escapeHtml(label)}?</p><form method="post" action="${escapeHtml(`${UNSUBSCRIBE_PATH}?token=${encodeURIComponent(url.searchParams.get('token') ?? '')}`)}">` +
              `<input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
          ),
        );
      }
      await opts.db.tx({ orgId: null }, (tx) => disableKind(tx, claim.userId, claim.kind));
      opts.metrics?.unsubscribes.inc({ outcome: 'applied' });
      opts.log.info({ userId: claim.userId, kind: claim.kind }, 'unsubscribed');
      if (wantsHtml) return send(res, 200, 'text/html; charset=utf-8', page('Unsubscribed', `<p>You will no longer receive emails about ${escapeHtml(label)}.</p>`));
      return send(res, 200, 'application/json', JSON.stringify({ unsubscribed: true, kind: claim.kind }));
    } catch (err) {
      opts.log.error({ err }, 'mailer request failed');
      if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: { code: 'INTERNAL_SERVER_ERROR', message: 'Unexpected error' } }));
    }
  };
}
