import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '@cos/logger';
import type { ClientIp } from '../auth/client-ip';

/** The public path of provider webhooks (README: Customer signals: webhooks and connectors). */
export const WEBHOOK_PREFIX = '/webhooks/';

/**
 * Headers a provider signs with or that describe the body; nothing else of the caller's reaches the subgraph (no
 * cookies, no Authorization, no gateway-internal headers — the customers route verifies the provider's signature
 * itself and does not read the principal).
 */
const FORWARDED_HEADERS = [
  'content-type',
  'user-agent',
  'stripe-signature',
  'x-zendesk-webhook-signature',
  'x-zendesk-webhook-signature-timestamp',
  'x-hub-signature',
  'x-signature',
  'x-mixpanel-signature',
  'x-mixpanel-timestamp',
];

export interface UseWebhookProxyOptions {
  /** Base URL of the customers subgraph (its `/webhooks/*` route), or undefined while no supergraph is loaded. */
  customersUrl: () => string | undefined;
  /** Pooled fetch with a deadline (the gateway's subgraph transport). */
  fetcher: (url: string, init: { method: string; headers: Record<string, string>; body: Uint8Array }) => Promise<{ status: number; text(): Promise<string> }>;
  maxBodyBytes: number;
  clientIp: ClientIp;
  log: Logger;
}

const json = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
  Response.json({ error: { code, message } }, { status, headers });

/**
 * The gateway is the public entry point, so provider webhooks arrive here: `POST /webhooks/<provider>/<id>` is
 * forwarded to the customers subgraph with its body bytes unchanged (the signature covers them) and size-limited
 * (413 before anything is read when Content-Length is too large, otherwise counted while reading). The answer — a 2xx
 * only after the subgraph committed, or its 4xx JSON with a stable code — goes back as is; an unreachable subgraph is
 * a 502 so the provider retries. No GraphQL auth applies: the provider's signature is the authentication.
 */
export function useWebhookProxy(opts: UseWebhookProxyOptions): Plugin {
  return {
    async onRequest({ request, url, endResponse, serverContext }) {
      if (!url.pathname.startsWith(WEBHOOK_PREFIX)) return;
      if (request.method !== 'POST') {
        endResponse(json(405, 'METHOD_NOT_ALLOWED', 'Webhooks are POSTed', { allow: 'POST' }));
        return;
      }
      const length = request.headers.get('content-length');
      if (length !== null && (!/^\d+$/.test(length) || Number(length) > opts.maxBodyBytes)) {
        endResponse(json(413, 'PAYLOAD_TOO_LARGE', `Body larger than ${opts.maxBodyBytes} bytes`));
        return;
      }
      const body = await readCapped(request, opts.maxBodyBytes);
      if (!body) {
        endResponse(json(413, 'PAYLOAD_TOO_LARGE', `Body larger than ${opts.maxBodyBytes} bytes`));
        return;
      }
      const base = opts.customersUrl();
      if (!base) {
        endResponse(json(503, 'UNAVAILABLE', 'Try again later', { 'retry-after': '5' }));
        return;
      }
      const headers: Record<string, string> = {};
      for (const name of FORWARDED_HEADERS) {
        const v = request.headers.get(name);
        if (v !== null) headers[name] = v;
      }
      const req = (serverContext as { req?: IncomingMessage } | undefined)?.req;
      headers['x-request-id'] = request.headers.get('x-request-id') ?? randomUUID();
      const ip = req?.socket ? opts.clientIp(req) : undefined;
      if (ip) headers['x-forwarded-for'] = ip;
      try {
        // The path only: no query string, and the origin is the subgraph's, never something the caller chose.
        const res = await opts.fetcher(new URL(url.pathname, base).toString(), { method: 'POST', headers, body });
        const text = await res.text();
        endResponse(new Response(text.slice(0, 64 * 1024), { status: res.status, headers: { 'content-type': 'application/json' } }));
      } catch (err) {
        opts.log.warn({ err: (err as Error).message, path: url.pathname }, 'webhook forward failed');
        endResponse(json(502, 'UPSTREAM_UNAVAILABLE', 'Try again later'));
      }
    },
  };
}

async function readCapped(req: Request, limit: number): Promise<Uint8Array | null> {
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
