import { z } from 'zod';
import { parseEnv, envFields } from '@cos/config';
import { baseServiceEnv } from '@cos/service-kit';

export const tasksEnv = baseServiceEnv.extend({
  PORT: envFields.port(4002),
  /**
   * Run as the release before migration 0007 (reads and writes tasks.created_by, registers schema level 6): only for
   * the expand/contract drill (docs/migrations.md); never set in production.
   */
  TASKS_LEGACY_RELEASE: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
});
export type TasksEnv = ReturnType<typeof tasksEnv.parse>;

/** Reads process.env once (every problem reported at once, exit 1). */
export const loadEnv = (): TasksEnv => parseEnv(tasksEnv);
