import { parseEnv, envFields } from '@cos/config';
import { baseServiceEnv } from '@cos/service-kit';

export const tasksEnv = baseServiceEnv.extend({
  PORT: envFields.port(4002),
});
export type TasksEnv = ReturnType<typeof tasksEnv.parse>;

/** Reads process.env once (every problem reported at once, exit 1). */
export const loadEnv = (): TasksEnv => parseEnv(tasksEnv);
