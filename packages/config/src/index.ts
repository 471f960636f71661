import { z } from 'zod';

/**
 * Parses `source` (process.env by default) with a zod object schema. Every problem is reported at once and the
 * process exits 1 — env is read nowhere else in a service.
 */
export function parseEnv<S extends z.ZodObject>(schema: S, source: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(source);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
  // eslint-disable-next-line no-console
  console.error(`Invalid environment:\n${lines.join('\n')}`);
  process.exit(1);
}

/** Reusable env fields. */
export const envFields = {
  port: (dflt: number) => z.coerce.number().int().min(0).max(65535).default(dflt),
  url: (dflt?: string) => (dflt === undefined ? z.string().url() : z.string().url().default(dflt)),
  ms: (dflt: number) => z.coerce.number().int().positive().default(dflt),
  int: (dflt: number) => z.coerce.number().int().nonnegative().default(dflt),
  bool: (dflt: boolean) =>
    z
      .enum(['true', 'false', '1', '0', ''])
      .default(dflt ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1'),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  nodeEnv: () => z.enum(['development', 'test', 'production']).default('development'),
  secret: () => z.string().min(32, 'must be at least 32 characters'),
};

export { z };
