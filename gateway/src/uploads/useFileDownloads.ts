/**
 * Attachment downloads: `GET /files/<token>` on the gateway's port. The token (made by the tasks subgraph when it
 * resolves `Attachment.url`) is HMAC-signed, expiring and bound to an organization and a blob; a tampered or expired
 * token answers 403, a blob that is gone (erased) 404. The answer is always a download (Content-Disposition
 * attachment), never sniffed into something else by browsers (X-Content-Type-Options: nosniff), never cached by
 * shared caches, and cannot run script even if opened inline (a sandboxing CSP).
 */
import { Readable } from 'node:stream';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '@cos/logger';
import { contentDisposition, verifyDownloadToken, type BlobStore } from '@cos/files';

export const FILES_PREFIX = '/files/';

export function useFileDownloads(opts: { store: BlobStore; secret: string; log: Logger }): Plugin {
  const refuse = (status: number, error: string) =>
    Response.json({ error }, { status, headers: { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } });
  return {
    async onRequest({ request, url, endResponse }) {
      if (!url.pathname.startsWith(FILES_PREFIX)) return;
      if (request.method !== 'GET' && request.method !== 'HEAD') return endResponse(refuse(405, 'method not allowed'));
      // Tokens are base64url: nothing to decode; a %-escape only makes them invalid.
      const verdict = verifyDownloadToken(url.pathname.slice(FILES_PREFIX.length), opts.secret);
      if (!verdict.ok) {
        opts.log.info({ reason: verdict.reason }, 'refused a file download');
        return endResponse(refuse(403, verdict.reason === 'expired' ? 'This download link has expired' : 'Invalid download link'));
      }
      const blob = await opts.store.open(verdict.grant.sha256);
      if (!blob) return endResponse(refuse(404, 'This file no longer exists'));
      const headers = {
        'content-type': verdict.grant.type,
        'content-length': String(blob.size),
        'content-disposition': contentDisposition(verdict.grant.name),
        'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'none'; sandbox",
        'cache-control': 'private, no-store',
        'cross-origin-resource-policy': 'same-origin',
      };
      if (request.method === 'HEAD') {
        blob.stream.destroy();
        return endResponse(new Response(null, { status: 200, headers }));
      }
      endResponse(new Response(Readable.toWeb(blob.stream) as ReadableStream, { status: 200, headers }));
    },
  };
}
