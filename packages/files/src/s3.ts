/**
 * An S3-compatible BlobStore (AWS S3, MinIO, Ceph RGW, R2, …): one object per blob, keyed `<prefix><sha256>`. Uploads
 * are still staged and checked on local disk (stageStream); `put` then streams the staged file to the bucket.
 */
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { FsBlobStore, type BlobStore } from './storage';

type S3Sdk = typeof import('@aws-sdk/client-s3');

export interface S3BlobStoreOptions {
  bucket: string;
  /** Default: 'us-east-1' (most S3-compatible servers ignore it, but the signature needs one). */
  region?: string;
  /** For S3-compatible servers, e.g. `http://minio:9000`; unset: AWS. */
  endpoint?: string;
  /** Static credentials; unset: the AWS SDK's default chain (env, profile, instance/pod role). */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** `http://host/bucket/key` instead of `http://bucket.host/key` (MinIO and most self-hosted servers need it). */
  forcePathStyle?: boolean;
  /** Prepended to every key (e.g. `attachments/`). */
  prefix?: string;
  /** Connection-establishment timeout. Default 5 s. */
  connectTimeoutMs?: number;
  /** Socket idle timeout of a request (and of a download's body). Default 30 s. */
  requestTimeoutMs?: number;
  /** Attempts per request, retries included (5xx, throttling, network errors). Default 3. */
  maxAttempts?: number;
}

const SHA256 = /^[0-9a-f]{64}$/;

const statusOf = (err: unknown): number | undefined => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
const isMissing = (err: unknown) => {
  const name = (err as { name?: string }).name;
  return statusOf(err) === 404 || name === 'NoSuchKey' || name === 'NotFound';
};

export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  readonly prefix: string;
  private readonly config: S3ClientConfig;
  private connection: Promise<{ sdk: S3Sdk; client: S3Client }> | undefined;

  constructor(opts: S3BlobStoreOptions) {
    if (!opts.bucket) throw new Error('S3BlobStore: a bucket is required');
    if (Boolean(opts.accessKeyId) !== Boolean(opts.secretAccessKey)) {
      throw new Error('S3BlobStore: set both the access key id and the secret access key, or neither');
    }
    this.bucket = opts.bucket;
    this.prefix = opts.prefix ?? '';
    this.config = {
      region: opts.region || 'us-east-1',
      endpoint: opts.endpoint || undefined,
      forcePathStyle: opts.forcePathStyle ?? false,
      credentials: opts.accessKeyId && opts.secretAccessKey ? { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey } : undefined,
      maxAttempts: opts.maxAttempts ?? 3,
      // Checksums only where S3 requires them: the default (CRC32 trailers with aws-chunked bodies) is not understood
      // by every S3-compatible server. Integrity is the key itself: the gateway hashed the bytes before the upload.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: opts.connectTimeoutMs ?? 5_000,
        requestTimeout: opts.requestTimeoutMs ?? 30_000,
        // Without it an exceeded requestTimeout is only logged (smithy), and a stalled server would hang the request.
        throwOnRequestTimeout: true,
      },
    };
  }

  /**
   * The AWS SDK and this store's client, made when the store first sends a request: a process that keeps its files on
   * disk (the default) never loads the SDK. Loaded, it is ~4.7 MB of heap in hundreds of modules that every
   * mark-compact of the process marks again (the gateway's included), and it warns about the Node version at start.
   */
  private s3(): Promise<{ sdk: S3Sdk; client: S3Client }> {
    return (this.connection ??= import('@aws-sdk/client-s3').then((sdk) => ({ sdk, client: new sdk.S3Client(this.config) })));
  }

  keyOf(sha256: string): string {
    if (!SHA256.test(sha256)) throw new Error('not a sha256 key');
    return `${this.prefix}${sha256}`;
  }

  /** Streams the staged file to the bucket (skipped when the blob is already there: content-addressed), then deletes it. */
  async put(sha256: string, stagedPath: string): Promise<void> {
    const Key = this.keyOf(sha256);
    try {
      if (!(await this.has(sha256))) {
        const { size } = await stat(stagedPath);
        const { sdk, client } = await this.s3();
        await client.send(
          new sdk.PutObjectCommand({
            Bucket: this.bucket,
            Key,
            // A stream needs its length up front (no chunked upload); the whole staged file is bounded by UPLOAD_MAX_BYTES.
            Body: createReadStream(stagedPath),
            ContentLength: size,
            ContentType: 'application/octet-stream',
          }),
        );
      }
    } finally {
      await rm(stagedPath, { force: true });
    }
  }

  async open(sha256: string): Promise<{ stream: Readable; size: number } | null> {
    const Key = this.keyOf(sha256);
    const { sdk, client } = await this.s3();
    try {
      const out = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key }));
      if (!out.Body) return null;
      return { stream: out.Body as Readable, size: out.ContentLength ?? 0 };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async has(sha256: string): Promise<boolean> {
    const Key = this.keyOf(sha256);
    const { sdk, client } = await this.s3();
    try {
      await client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key }));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  /** S3 answers 204 for a missing key; a 404 from a compatible server is not an error either. */
  async delete(sha256: string): Promise<void> {
    const Key = this.keyOf(sha256);
    const { sdk, client } = await this.s3();
    try {
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }
}

/** The env settings that choose and configure the blob store (gateway and tasks declare them in their schemas). */
export interface BlobStoreEnv {
  /** `fs` (default) or `s3`. */
  FILES_STORE?: string;
  FILES_DIR: string;
  S3_ENDPOINT?: string;
  S3_BUCKET?: string;
  S3_REGION?: string;
  S3_ACCESS_KEY_ID?: string;
  S3_SECRET_ACCESS_KEY?: string;
  S3_FORCE_PATH_STYLE?: boolean;
  S3_PREFIX?: string;
  S3_TIMEOUT_MS?: number;
}

/** FILES_STORE=s3: an S3BlobStore (S3_BUCKET required); otherwise the file-system store under FILES_DIR. */
export function blobStoreFromEnv(env: BlobStoreEnv): BlobStore {
  const kind = env.FILES_STORE || 'fs';
  if (kind === 'fs') return new FsBlobStore(env.FILES_DIR);
  if (kind !== 's3') throw new Error(`FILES_STORE: expected fs or s3, got ${kind}`);
  if (!env.S3_BUCKET) throw new Error('FILES_STORE=s3 needs S3_BUCKET');
  return new S3BlobStore({
    bucket: env.S3_BUCKET,
    region: env.S3_REGION,
    endpoint: env.S3_ENDPOINT,
    accessKeyId: env.S3_ACCESS_KEY_ID,
    secretAccessKey: env.S3_SECRET_ACCESS_KEY,
    forcePathStyle: env.S3_FORCE_PATH_STYLE,
    prefix: env.S3_PREFIX,
    requestTimeoutMs: env.S3_TIMEOUT_MS,
  });
}
