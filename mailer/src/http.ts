/**
 * The mailer's HTTP surface: /healthz, /readyz and /metrics. (Unsubscribe links are served by identity, which
 * records the opt-out as an event the mailer consumes: README "Email".)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@cos/logger';

export interface HttpOptions {
  log: Logger;
  /** /readyz checks (Postgres, NATS); each throws when not ready. */
  readiness: Record<string, () => Promise<void>>;
  metricsText?: () => Promise<{ contentType: string; body: string }>;
  isDraining?: () => boolean;
}

const send = (res: ServerResponse, status: number, type: string, body: string) => {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
};

export function createHttpHandler(opts: HttpOptions) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://mailer');
    try {
      if (url.pathname === '/healthz') return send(res, 200, 'application/json', '{"status":"ok","service":"mailer"}');
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
      return send(res, 404, 'application/json', JSON.stringify({ error: { code: 'NOT_FOUND', message: 'Not found' } }));
    } catch (err) {
      opts.log.error({ err }, 'mailer request failed');
      if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: { code: 'INTERNAL_SERVER_ERROR', message: 'Unexpected error' } }));
    }
  };
}
