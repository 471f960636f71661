import type { Plugin } from 'graphql-yoga';
import { ErrorCode } from '@cos/errors';
import { jsonError } from './responses';

export interface SecurityOptions {
  /** HSTS only makes sense behind TLS in production. */
  production: boolean;
  /** Refuse "simple" cross-site requests (see below). */
  csrfPrevention: boolean;
  /** Operation paths CSRF prevention applies to. */
  paths: ReadonlySet<string>;
}

/** Headers whose presence makes a browser send a CORS preflight first (Apollo's and yoga's names, and ours). */
export const PREFLIGHT_HEADERS = ['x-graphql-csrf', 'apollo-require-preflight', 'x-apollo-operation-name', 'graphql-require-preflight'];
const CREDENTIAL_HEADERS = ['authorization', 'x-api-key'];
const SIMPLE_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']);

/** Content-Security-Policy of API answers (JSON, event streams): nothing to run, only never to be framed. */
export const API_CSP = "frame-ancestors 'none'";
/**
 * Content-Security-Policy of the pages the gateway serves (GraphiQL in development): everything from this origin
 * only — scripts, workers, requests — and never framed. Styles allow 'unsafe-inline' because GraphiQL's editor
 * (Monaco) and its UI set inline styles at run time; fonts and images come as data: URLs inside its stylesheet.
 */
export const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "worker-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * A request a browser may send cross-site without a CORS preflight (a form post, an <img>/<script> GET): method
 * GET/HEAD/POST, a simple or absent content type, and none of the headers that force a preflight (credentials or
 * an explicit preflight header).
 */
export function isSimpleRequest(request: Request): boolean {
  const method = request.method.toUpperCase();
  if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') return false;
  const type = request.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type && !SIMPLE_TYPES.has(type)) return false;
  return ![...PREFLIGHT_HEADERS, ...CREDENTIAL_HEADERS].some((h) => request.headers.has(h));
}

/**
 * CSRF prevention and security headers.
 * - CSRF (Apollo Server's rule): a simple request is refused with 400 unless it is an APQ lookup by hash over GET
 *   (read-only — mutations over GET answer 405 — credential-less, and the request CDNs are meant to cache). Clients
 *   send `content-type: application/json`, a credential header, or `x-graphql-csrf: 1` / `apollo-require-preflight:
 *   true` on GETs.
 * - Every response: `X-Content-Type-Options: nosniff`, a Content-Security-Policy (API_CSP, or PAGE_CSP for HTML)
 *   plus `X-Frame-Options: DENY` (no clickjacking through frames), `Referrer-Policy: no-referrer`, and HSTS in
 *   production.
 */
export function useSecurityHeaders(opts: SecurityOptions): Plugin {
  return {
    onRequest({ request, url, endResponse }) {
      if (!opts.csrfPrevention || !opts.paths.has(url.pathname) || !isSimpleRequest(request)) return;
      if (request.method.toUpperCase() === 'GET' && url.searchParams.get('extensions')?.includes('persistedQuery')) return;
      endResponse(
        jsonError(
          400,
          ErrorCode.FORBIDDEN,
          'This request looks like a cross-site request forgery: send content-type: application/json, or the header x-graphql-csrf: 1',
        ),
      );
    },
    onResponse({ response }) {
      const h = response.headers;
      h.set('x-content-type-options', 'nosniff');
      h.set('x-frame-options', 'DENY');
      h.set('referrer-policy', 'no-referrer');
      const html = h.get('content-type')?.toLowerCase().startsWith('text/html') ?? false;
      h.set('content-security-policy', html ? PAGE_CSP : API_CSP);
      if (opts.production) h.set('strict-transport-security', 'max-age=31536000; includeSubDomains');
    },
  };
}
