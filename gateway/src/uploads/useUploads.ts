/**
 * File uploads by the GraphQL multipart request spec (https://github.com/jaydenseric/graphql-multipart-request-spec):
 * `operations` (the JSON request, files as null), `map` (file field → variable paths), then the files. The gateway
 * forwards to subgraphs as JSON, so it does the file work itself: each file is streamed to a staging file (hashed,
 * counted against UPLOAD_MAX_BYTES and cut off at the limit), its declared type checked against the allow-list and
 * the sniffed type, scanned, stored content-addressed, and replaced in the variables by a signed blob reference the
 * owning subgraph verifies (`scalar Upload`). Only authenticated callers may upload; an anonymous multipart request
 * is refused before anything is read.
 *
 * Refusals are GraphQL errors with code BAD_USER_INPUT, `extensions.field` = the variable path and
 * `extensions.reason`: FILE_TOO_LARGE (413), TYPE_NOT_ALLOWED / TYPE_MISMATCH (415), VIRUS_FOUND (422),
 * TOO_MANY_FILES / MALFORMED_MULTIPART (400). Nothing is stored for a refused file.
 */
import { Readable } from 'node:stream';
import busboy from 'busboy';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ErrorCode } from '@cos/errors';
import type { Logger } from '@cos/logger';
import type { Principal } from '@cos/auth';
import { checkType, FileTooLargeError, sanitizeFileName, signBlobRef, stageStream, type BlobStore, type VirusScanner } from '@cos/files';
import { rm } from 'node:fs/promises';
import { principalIn } from '../context';
import { bodyTooLarge } from '../limits/useBodyLimit';

export interface UploadOptions {
  store: BlobStore;
  stagingDir: string;
  scanner: VirusScanner;
  /** Signs the blob references (the internal secret: subgraphs verify with it). */
  secret: string;
  maxFileBytes: number;
  maxFiles: number;
  /**
   * The whole multipart body's cap, counted while reading (a chunked body has no Content-Length for useBodyLimit to
   * check first): over it, the parse stops and the request is refused with 413 (useBodyLimit's bodyTooLarge).
   */
  maxRequestBytes: number;
  /** GraphQL path the multipart requests go to. */
  path: string;
  log: Logger;
  onUpload?: (outcome: 'stored' | 'refused') => void;
}

/** `operations` + `map` are small JSON; anything bigger is not a GraphQL request. */
const MAX_FIELD_BYTES = 1_000_000;

export type UploadRefusal = 'FILE_TOO_LARGE' | 'TYPE_NOT_ALLOWED' | 'TYPE_MISMATCH' | 'VIRUS_FOUND' | 'TOO_MANY_FILES' | 'MALFORMED_MULTIPART';
const STATUS: Record<UploadRefusal, number> = {
  FILE_TOO_LARGE: 413,
  TYPE_NOT_ALLOWED: 415,
  TYPE_MISMATCH: 415,
  VIRUS_FOUND: 422,
  TOO_MANY_FILES: 400,
  MALFORMED_MULTIPART: 400,
};

export const uploadError = (reason: UploadRefusal, message: string, field = 'file') =>
  new GraphQLError(message, { extensions: { code: ErrorCode.BAD_USER_INPUT, field, reason, http: { status: STATUS[reason] } } });

export const isMultipart = (request: Request) => (request.headers.get('content-type') ?? '').toLowerCase().startsWith('multipart/form-data');

/** Sets `value` at a dotted path (`variables.file`, `variables.files.0`) of `root`; false when the path does not exist. */
function setPath(root: Record<string, unknown>, dotted: string, value: unknown): boolean {
  const keys = dotted.split('.');
  let cur: unknown = root;
  for (const k of keys.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object' || !(k in (cur as object))) return false;
    cur = (cur as Record<string, unknown>)[k];
  }
  const last = keys.at(-1)!;
  if (cur === null || typeof cur !== 'object' || !(last in (cur as object)) || (cur as Record<string, unknown>)[last] !== null) return false;
  if (last === '__proto__' || last === 'constructor' || last === 'prototype') return false;
  (cur as Record<string, unknown>)[last] = value;
  return true;
}

export function useUploads(opts: UploadOptions): Plugin {
  async function parseMultipart(principal: Principal, request: Request): Promise<Record<string, unknown>> {
    if (principal.kind === 'anonymous') {
      throw new GraphQLError('Sign in to upload files', { extensions: { code: ErrorCode.UNAUTHENTICATED, http: { status: 401 } } });
    }
    if (!request.body) throw uploadError('MALFORMED_MULTIPART', 'Empty multipart request');
    const bb = busboy({
      headers: { 'content-type': request.headers.get('content-type') ?? '' },
      limits: { fieldSize: MAX_FIELD_BYTES, fields: 2, files: opts.maxFiles, fileSize: opts.maxFileBytes + 1, parts: opts.maxFiles + 2 },
    });
    // A holder, not two lets: busboy's callbacks assign them (TypeScript does not follow assignments in callbacks).
    const parts: { operations: Record<string, unknown> | null; map: Record<string, string[]> | null } = { operations: null, map: null };
    const stagedPaths: string[] = [];
    const tasks: Promise<void>[] = [];
    let refusal: GraphQLError | null = null;
    const refuse = (e: GraphQLError) => {
      refusal ??= e;
    };

    const finished = new Promise<void>((resolve, reject) => {
      bb.on('field', (name, value, info) => {
        if (info.valueTruncated) return refuse(uploadError('MALFORMED_MULTIPART', `${name} is larger than ${MAX_FIELD_BYTES} bytes`));
        try {
          if (name === 'operations') parts.operations = JSON.parse(value) as Record<string, unknown>;
          else if (name === 'map') parts.map = JSON.parse(value) as Record<string, string[]>;
        } catch {
          refuse(uploadError('MALFORMED_MULTIPART', `${name} is not JSON`));
        }
      });
      bb.on('file', (fieldName, stream, info) => {
        const { operations, map } = parts;
        const paths = map?.[fieldName];
        if (!operations || !map || !Array.isArray(paths) || paths.length === 0) {
          stream.resume();
          return refuse(uploadError('MALFORMED_MULTIPART', 'operations and map must come before the files, and map must name every file'));
        }
        const field = paths[0]!.replace(/^variables\./, '');
        tasks.push(
          (async () => {
            try {
              const staged = await stageStream(stream, opts.stagingDir, opts.maxFileBytes);
              stagedPaths.push(staged.path);
              const verdict = checkType(staged.head, info.mimeType, staged.size <= staged.head.length);
              if (!verdict.ok) return refuse(uploadError(verdict.code, verdict.message, field));
              const scan = await opts.scanner.scan(staged.path);
              if (!scan.clean) {
                opts.log.warn({ signature: scan.signature, sha256: staged.sha256, principal: principal.kind }, 'upload refused by the virus scanner');
                return refuse(uploadError('VIRUS_FOUND', `The file was refused by the virus scanner (${scan.signature})`, field));
              }
              if (refusal) return;
              await opts.store.put(staged.sha256, staged.path);
              const ref = signBlobRef(
                { sha256: staged.sha256, size: staged.size, type: verdict.type, name: sanitizeFileName(info.filename ?? 'file'), orgId: principal.orgId },
                opts.secret,
              );
              for (const p of paths) {
                if (typeof p !== 'string' || !setPath(operations, p, ref)) {
                  refuse(uploadError('MALFORMED_MULTIPART', `map names ${String(p)}, which is not a null in operations`));
                }
              }
            } catch (err) {
              stream.resume();
              if (err instanceof FileTooLargeError) return refuse(uploadError('FILE_TOO_LARGE', `The file is larger than ${opts.maxFileBytes} bytes`, field));
              throw err;
            }
          })(),
        );
      });
      bb.on('filesLimit', () => refuse(uploadError('TOO_MANY_FILES', `At most ${opts.maxFiles} files per request`)));
      bb.on('fieldsLimit', () => refuse(uploadError('MALFORMED_MULTIPART', 'Only operations and map may be sent as fields')));
      bb.on('error', (err) => reject(refusal ?? uploadError('MALFORMED_MULTIPART', `Malformed multipart body: ${(err as Error).message}`)));
      bb.on('close', () => resolve());
    });

    // whatwg-node's body is not always Node's own ReadableStream class (Readable.fromWeb refuses it): read it by hand.
    const reader = request.body.getReader();
    Readable.from(
      (async function* () {
        let read = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          read += value.byteLength;
          if (read > opts.maxRequestBytes) {
            refuse(bodyTooLarge(opts.maxRequestBytes));
            await reader.cancel().catch(() => undefined);
            throw refusal;
          }
          yield Buffer.from(value.buffer, value.byteOffset, value.byteLength);
        }
      })(),
    )
      .on('error', (err) => bb.destroy(err))
      .pipe(bb);
    try {
      await finished;
      await Promise.all(tasks);
    } finally {
      // A body that failed (the client aborted mid-upload: busboy's error ends `finished` first) leaves file tasks
      // behind that fail too: wait for them all, so none rejects unhandled (Node would end the process) and every
      // staged file is known before the clean-up below.
      await Promise.allSettled(tasks);
      // Stored files were moved away; what remains staged was refused (or never finished).
      await Promise.all(stagedPaths.map((p) => rm(p, { force: true })));
    }
    if (refusal) {
      opts.onUpload?.('refused');
      throw refusal;
    }
    const { operations } = parts;
    if (!operations) throw uploadError('MALFORMED_MULTIPART', 'The multipart request has no operations field');
    if (Array.isArray(operations)) throw uploadError('MALFORMED_MULTIPART', 'Batched operations are not supported');
    if (tasks.length > 0) opts.onUpload?.('stored');
    return operations;
  }

  return {
    onRequestParse({ request, url, serverContext, setRequestParser }) {
      if (url.pathname !== opts.path || request.method !== 'POST' || !isMultipart(request)) return;
      // useAuth put the principal in the server context; the parser's argument carries the body to read.
      const principal = principalIn(serverContext);
      setRequestParser((req) => parseMultipart(principal, req) as never);
    },
  };
}
