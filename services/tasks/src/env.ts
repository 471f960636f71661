import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { parseEnv, envFields } from '@cos/config';
import { baseServiceEnv } from '@cos/service-kit';

/** The gateway's default too (gateway/src/env.ts): both must see the same blobs. */
export const DEFAULT_FILES_DIR = path.join(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..'), '.data/files');

export const tasksEnv = baseServiceEnv.extend({
  PORT: envFields.port(4002),
  /** Attachments' blob storage (content-addressed; the gateway writes, tasks deletes unreferenced blobs). */
  FILES_DIR: z.string().min(1).default(DEFAULT_FILES_DIR),
  /**
   * Attachments' blob store: `fs` (FILES_DIR, default) or `s3` (an S3-compatible bucket; uploads are still staged under
   * FILES_DIR/tmp). The key pair may come from S3_ACCESS_KEY_ID_FILE / S3_SECRET_ACCESS_KEY_FILE; unset: the AWS SDK's
   * default credential chain.
   */
  FILES_STORE: z.enum(['fs', 's3']).default('fs'),
  S3_ENDPOINT: z.string().url().optional(),
  S3_BUCKET: z.string().min(1).optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: envFields.bool(false),
  S3_PREFIX: z.string().default(''),
  S3_TIMEOUT_MS: envFields.ms(30_000),
  /** Lifetime of an Attachment.url download link. */
  FILES_URL_TTL_S: z.coerce.number().int().min(1).max(86_400).default(300),
  /** Base put in front of `/files/<token>` in Attachment.url (the gateway's public URL); empty: a relative URL. */
  FILES_PUBLIC_URL: z.string().url().or(z.literal('')).default(''),
  /**
   * Run as the release before migration 0007 (reads and writes tasks.created_by, registers schema level 6): only for
   * the expand/contract drill (docs/migrations.md); never set in production.
   */
  TASKS_LEGACY_RELEASE: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
});
export type TasksEnv = ReturnType<typeof tasksEnv.parse>;

/** Reads process.env once (every problem reported at once, exit 1). */
export const loadEnv = (): TasksEnv => parseEnv(tasksEnv);
