import type { Plugin } from 'graphql-yoga';
import type { Logger } from '@cos/logger';
import { readBodyCapped } from '@cos/service-kit';

/** The public unsubscribe path (README "Email"): the links in mails and their List-Unsubscribe headers point here. */
export const UNSUBSCRIBE_PATH = '/unsubscribe';
/** One-click bodies are `List-Unsubscribe=One-Click`; a form post is no larger. */
const MAX_BODY_BYTES = 1_024;

export interface UseUnsubscribeProxyOptions {
  /** identity's URL (its `/unsubscribe` route), or undefined while no supergraph is loaded. */
  identityUrl: () => string | undefined;
  fetcher: (url: string, init: { method: string; headers: Record<string, string>; body?: Uint8Array }) => Promise<{ status: number; headers: Headers; text(): Promise<string> }>;
  log: Logger;
}

const json = (status: number, code: string, message: string, headers: Record<string, string> = {}) => Response.json({ error: { code, message } }, { status, headers });

/**
 * `GET|POST /unsubscribe?token=…` is forwarded to identity before any GraphQL concern: mail clients send RFC 8058
 * one-click POSTs without credentials, so the signed token (identity checks it, then records the opt-out as an event
 * the mailer consumes) is the only authentication. Only the token, Accept and Content-Type travel; identity's answer
 * (HTML or JSON, 400 `INVALID_UNSUBSCRIBE_TOKEN` for a bad token) comes back as is. Unreachable: 503 + Retry-After.
 */
export function useUnsubscribeProxy(opts: UseUnsubscribeProxyOptions): Plugin {
  return {
    async onRequest({ request, url, endResponse }) {
      if (url.pathname !== UNSUBSCRIBE_PATH) return;
      if (request.method !== 'GET' && request.method !== 'POST') {
        endResponse(json(405, 'METHOD_NOT_ALLOWED', 'GET or POST', { allow: 'GET, POST' }));
        return;
      }
      let body: Uint8Array | undefined;
      if (request.method === 'POST') {
        body = (await readBodyCapped(request, MAX_BODY_BYTES)) ?? undefined;
        if (!body) {
          endResponse(json(413, 'PAYLOAD_TOO_LARGE', `Body larger than ${MAX_BODY_BYTES} bytes`));
          return;
        }
      }
      const base = opts.identityUrl();
      if (!base) {
        endResponse(json(503, 'UNAVAILABLE', 'Try again later', { 'retry-after': '5' }));
        return;
      }
      // The path only on identity's origin, never something the caller chose; the token is the one parameter.
      const target = new URL(UNSUBSCRIBE_PATH, base);
      const token = url.searchParams.get('token');
      if (token !== null) target.searchParams.set('token', token);
      const headers: Record<string, string> = {};
      for (const name of ['accept', 'content-type']) {
        const v = request.headers.get(name);
        if (v !== null) headers[name] = v;
      }
      try {
        const res = await opts.fetcher(target.toString(), { method: request.method, headers, body });
        const text = await res.text();
        endResponse(
          new Response(text.slice(0, 64 * 1024), {
            status: res.status,
            headers: { 'content-type': res.headers.get('content-type') ?? 'application/json', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' },
          }),
        );
      } catch (err) {
        opts.log.warn({ err: (err as Error).message }, 'unsubscribe forward failed');
        endResponse(json(503, 'UNAVAILABLE', 'Try again later', { 'retry-after': '30' }));
      }
    },
  };
}
