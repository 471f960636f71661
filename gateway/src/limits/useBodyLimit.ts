import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ErrorCode } from '@cos/errors';
import { readBodyCapped } from '@cos/service-kit';

/**
 * The refusal of a body over `maxBytes`: HTTP 413, BAD_USER_INPUT, field "body", and `Connection: close`: the rest of
 * the body is never read, so the connection cannot carry another request (kept alive, the client's next request on it
 * met a reset).
 */
export const bodyTooLarge = (maxBytes: number) =>
  new GraphQLError(`Request body larger than ${maxBytes} bytes`, {
    extensions: { code: ErrorCode.BAD_USER_INPUT, field: 'body', http: { status: 413, headers: { connection: 'close' } } },
  });

/**
 * Refuses request bodies over `maxBytes` with HTTP 413 (BAD_USER_INPUT, field "body") before anything is parsed:
 * by Content-Length when present (Node's HTTP parser then delivers no byte past it), otherwise (chunked) by counting
 * bytes while reading, stopping at the limit: here for JSON bodies, in useUploads for multipart ones (which get the
 * larger `multipartMaxBytes`). This is the gateway's only body limit: yoga's own (`maxRequestBodySize`) is off, as it
 * piped every POST body through a TransformStream and a stream pipeline, Content-Length or not (~1.5 % of the gateway's
 * CPU on the Guild workload, plus a DOMException per request when the pipeline finished).
 */
export function useBodyLimit(maxBytes: number, uploads?: { multipartMaxBytes: number; paths: ReadonlySet<string> }): Plugin {
  // Multipart uploads (useUploads) get their own, larger, cap; useUploads counts every file against its limit.
  const limitFor = (request: Request, pathname: string) =>
    uploads && uploads.paths.has(pathname) && (request.headers.get('content-type') ?? '').toLowerCase().startsWith('multipart/form-data')
      ? uploads.multipartMaxBytes
      : maxBytes;
  const tooLarge = () => bodyTooLarge(maxBytes);
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      const length = request.headers.get('content-length');
      if (length !== null && Number(length) > limitFor(request, url.pathname)) {
        const err = tooLarge();
        const { http, ...extensions } = err.extensions as { http: ResponseInit };
        endResponse(fetchAPI.Response.json({ errors: [{ message: err.message, extensions }] }, http));
      }
    },
    onRequestParse({ request, setRequestParser }) {
      if (request.method !== 'POST' || request.headers.get('content-length') !== null || !request.body) return;
      if (limitFor(request, new URL(request.url).pathname) !== maxBytes) return;
      setRequestParser(async (req) => {
        const text = await readBodyCapped(req, maxBytes);
        if (text === null) throw tooLarge();
        try {
          return JSON.parse(text.toString('utf8'));
        } catch {
          throw new GraphQLError('POST body sent invalid JSON.', {
            extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } },
          });
        }
      });
    },
  };
}

