/** What the attachments resolvers need: the blob store, the secret that signs references and URLs, URL lifetime. */
import { FsBlobStore, type BlobStore } from '@cos/files';
import { DEFAULT_FILES_DIR } from './env';

export interface FilesConfig {
  store: BlobStore;
  /** The internal secret (the gateway signs blob references and verifies download URLs with it). */
  secret: string;
  urlTtlMs: number;
  /** Prefix of Attachment.url ('' = relative). */
  publicBaseUrl: string;
}

export function filesConfig(opts: { secret: string; dir?: string; store?: BlobStore; urlTtlS?: number; publicBaseUrl?: string }): FilesConfig {
  return {
    // An explicit store (blobStoreFromEnv: FILES_STORE=s3) or the file-system one under `dir`.
    store: opts.store ?? new FsBlobStore(opts.dir ?? DEFAULT_FILES_DIR),
    secret: opts.secret,
    urlTtlMs: (opts.urlTtlS ?? 300) * 1000,
    publicBaseUrl: (opts.publicBaseUrl ?? '').replace(/\/$/, ''),
  };
}
