import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { blobStoreEnvFields, envFields, parseEnv } from '@cos/config';
import { baseServiceEnv } from '@cos/service-kit';

/** The gateway's default too (gateway/src/env.ts): both must see the same blobs. */
export const DEFAULT_FILES_DIR = path.join(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..'), '.data/files');

export const tasksEnv = baseServiceEnv.extend({
  PORT: envFields.port(4002),
  /** Attachments' blob storage (content-addressed; the gateway writes, tasks deletes unreferenced blobs). */
  FILES_DIR: z.string().min(1).default(DEFAULT_FILES_DIR),
  ...blobStoreEnvFields,
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
