import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ErrorCode } from '@cos/errors';

/**
 * Refuses request bodies over `maxBytes` with HTTP 413 (BAD_USER_INPUT, field "body") before anything is parsed:
 * by Content-Length when present, otherwise (chunked uploads) by counting bytes while reading, stopping at the limit.
 */
export function useBodyLimit(maxBytes: number, uploads?: { multipartMaxBytes: number; paths: ReadonlySet<string> }): Plugin {
  // Multipart uploads (useUploads) get their own, larger, cap; useUploads counts every file against its limit.
  const limitFor = (request: Request, pathname: string) =>
    uploads && uploads.paths.has(pathname) && (request.headers.get('content-type') ?? '').toLowerCase().startsWith('multipart/form-data')
      ? uploads.multipartMaxBytes
      : maxBytes;
  const tooLarge = () =>
    new GraphQLError(`Request body larger than ${maxBytes} bytes`, {
      extensions: { code: ErrorCode.BAD_USER_INPUT, field: 'body', http: { status: 413 } },
    });
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      const length = request.headers.get('content-length');
      if (length !== null && Number(length) > limitFor(request, url.pathname)) {
        const err = tooLarge();
        endResponse(fetchAPI.Response.json({ errors: [{ message: err.message, extensions: { code: ErrorCode.BAD_USER_INPUT, field: 'body' } }] }, { status: 413 }));
      }
    },
    onRequestParse({ request, setRequestParser }) {
      if (request.method !== 'POST' || request.headers.get('content-length') !== null || !request.body) return;
      if (limitFor(request, new URL(request.url).pathname) !== maxBytes) return;
      setRequestParser(async (req) => {
        const text = await readCapped(req, maxBytes);
        if (text === null) throw tooLarge();
        try {
          return JSON.parse(text);
        } catch {
          throw new GraphQLError('POST body sent invalid JSON.', {
            extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } },
          });
        }
      });
    },
  };
}

async function readCapped(req: Request, maxBytes: number): Promise<string | null> {
  const reader = req.body!.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
