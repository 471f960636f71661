/**
 * Content-addressed blob storage: a blob's key is the sha256 of its bytes, so the same file uploaded twice is stored
 * once. Uploads are staged to a local temporary file first (hashed, counted and sniffed while streaming), checked,
 * then moved into the store.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { SNIFF_BYTES } from './sniff';

/** Where blobs live. The file-system store is the default; an S3-compatible one implements the same four methods. */
export interface BlobStore {
  /** Moves a staged file into the store under `sha256` (a no-op but deleting the staged file when it is already there). */
  put(sha256: string, stagedPath: string): Promise<void>;
  /** The blob's bytes, or null when it is not stored. */
  open(sha256: string): Promise<{ stream: Readable; size: number } | null>;
  has(sha256: string): Promise<boolean>;
  /** Removes the blob (no error when absent). */
  delete(sha256: string): Promise<void>;
}

const SHA256 = /^[0-9a-f]{64}$/;
const checkKey = (sha256: string) => {
  if (!SHA256.test(sha256)) throw new Error('not a sha256 key');
};

/** Blobs as files `<dir>/<aa>/<bb>/<sha256>` (two levels of fan-out keep directories small). */
export class FsBlobStore implements BlobStore {
  constructor(readonly dir: string) {}

  pathOf(sha256: string): string {
    checkKey(sha256);
    return path.join(this.dir, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  async put(sha256: string, stagedPath: string): Promise<void> {
    const target = this.pathOf(sha256);
    if (await this.has(sha256)) {
      await rm(stagedPath, { force: true });
      return;
    }
    await mkdir(path.dirname(target), { recursive: true });
    // Same file system as the staging dir (both under FILES_DIR): an atomic rename, never a half-written blob.
    await rename(stagedPath, target);
  }

  async open(sha256: string) {
    const p = this.pathOf(sha256);
    try {
      const s = await stat(p);
      return { stream: createReadStream(p), size: s.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async has(sha256: string): Promise<boolean> {
    try {
      await stat(this.pathOf(sha256));
      return true;
    } catch {
      return false;
    }
  }

  async delete(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
  }

  /** A directory for staged uploads on the same file system as the blobs. */
  stagingDir(): string {
    return path.join(this.dir, 'tmp');
  }
}

export interface StagedFile {
  path: string;
  sha256: string;
  size: number;
  /** The first SNIFF_BYTES bytes (fewer when the file is shorter). */
  head: Uint8Array;
}

export class FileTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`File larger than ${maxBytes} bytes`);
  }
}

/**
 * Streams `source` into a new file under `dir`, hashing it and keeping its head; stops writing as soon as more than
 * `maxBytes` arrived and deletes the file (FileTooLargeError), so an oversized upload never fills the disk.
 */
export async function stageStream(source: AsyncIterable<Uint8Array>, dir: string, maxBytes: number): Promise<StagedFile> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${randomUUID()}.part`);
  const out = createWriteStream(file, { flags: 'wx' });
  const hash = createHash('sha256');
  const head = Buffer.alloc(SNIFF_BYTES);
  let headLen = 0;
  let size = 0;
  const write = (chunk: Uint8Array) =>
    new Promise<void>((resolve, reject) => {
      out.write(chunk, (err) => (err ? reject(err) : resolve()));
    });
  let tooLarge = false;
  try {
    for await (const chunk of source) {
      // Past the limit the rest is drained, not written: breaking out would destroy a stream its producer (a
      // multipart parser) may still wait on. The producer bounds what is left (busboy's fileSize limit).
      if (tooLarge) continue;
      size += chunk.byteLength;
      if (size > maxBytes) {
        tooLarge = true;
        continue;
      }
      hash.update(chunk);
      if (headLen < SNIFF_BYTES) {
        const n = Math.min(SNIFF_BYTES - headLen, chunk.byteLength);
        head.set(chunk.subarray(0, n), headLen);
        headLen += n;
      }
      await write(chunk);
    }
    if (tooLarge) throw new FileTooLargeError(maxBytes);
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  } catch (err) {
    out.destroy();
    await rm(file, { force: true });
    throw err;
  }
  return { path: file, sha256: hash.digest('hex'), size, head: new Uint8Array(head.subarray(0, headLen)) };
}
