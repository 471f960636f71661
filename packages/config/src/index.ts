import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** A problem found while reading env (an env name and what is wrong with it). */
export interface EnvIssue {
  name: string;
  message: string;
}

/**
 * The `*_FILE` convention (as Docker and Kubernetes mount secrets): for each of `names`, `NAME_FILE=/run/secrets/x`
 * reads NAME from that file, without its trailing newline(s). Setting both NAME and NAME_FILE is an error, and so is
 * a file that cannot be read (the message names the variable and the path, never the content).
 * Returns a copy of `source` with the values filled in, and the issues found.
 */
export function resolveFileEnv(
  source: NodeJS.ProcessEnv,
  names: readonly string[],
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): { env: NodeJS.ProcessEnv; issues: EnvIssue[] } {
  const env: NodeJS.ProcessEnv = { ...source };
  const issues: EnvIssue[] = [];
  for (const name of names) {
    const fileVar = `${name}_FILE`;
    const file = source[fileVar];
    if (file === undefined || file === '') continue;
    if (source[name] !== undefined && source[name] !== '') {
      issues.push({ name: fileVar, message: `set either ${name} or ${fileVar}, not both` });
      continue;
    }
    try {
      env[name] = read(file).replace(/(\r?\n)+$/, '');
    } catch (err) {
      const code = (err as { code?: string }).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? 'unreadable');
      issues.push({ name: fileVar, message: `cannot read ${file} (${why})` });
    }
  }
  return { env, issues };
}

/**
 * Parses `source` (process.env by default) with a zod object schema, after resolving `NAME_FILE` for every NAME the
 * schema declares (resolveFileEnv: every secret setting can come from a mounted file). Every problem is reported
 * at once and the process exits 1 — env is read nowhere else in a service.
 */
export function parseEnv<S extends z.ZodObject>(schema: S, source: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = safeParseEnv(schema, source);
  if (result.success) return result.data;
  // eslint-disable-next-line no-console
  console.error(`Invalid environment:\n${result.issues.map((i) => `  ${i.name}: ${i.message}`).join('\n')}`);
  process.exit(1);
}

/** parseEnv without the exit: the parsed env, or every issue (file secrets and schema). */
export function safeParseEnv<S extends z.ZodObject>(
  schema: S,
  source: NodeJS.ProcessEnv = process.env,
): { success: true; data: z.infer<S> } | { success: false; issues: EnvIssue[] } {
  const files = resolveFileEnv(source, Object.keys(schema.shape));
  const result = schema.safeParse(files.env);
  const issues = [...files.issues];
  if (!result.success) {
    for (const i of result.error.issues) {
      const name = i.path.join('.') || '(root)';
      // A value from a file failed validation: say so, never echo the value.
      if (!files.issues.some((f) => f.name === `${name}_FILE`)) issues.push({ name, message: i.message });
    }
  }
  if (issues.length === 0 && result.success) return { success: true, data: result.data };
  return { success: false, issues };
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
  /**
   * SHUTDOWN_DELAY_MS of an HTTP process: after SIGTERM, how long it keeps accepting and serving while /readyz answers
   * 503, so load balancers take it out of rotation before its listener closes (a connection reaching a closed or
   * closing listener is reset, and a reset request cannot be retried blindly). At least the balancer's readiness
   * probe period plus its timeout; 0 (default) closes at once, for processes without a balancer (tests, `pnpm start`).
   */
  shutdownDelayMs: () => z.coerce.number().int().min(0).max(60_000).default(0),
};

/**
 * Attachments' blob store: `fs` (FILES_DIR, default) or `s3` (an S3-compatible bucket; uploads are still staged under
 * FILES_DIR/tmp). The key pair may come from S3_ACCESS_KEY_ID_FILE / S3_SECRET_ACCESS_KEY_FILE; unset: the AWS SDK's
 * default credential chain.
 */
export const blobStoreEnvFields = {
  FILES_STORE: z.enum(['fs', 's3']).default('fs'),
  S3_ENDPOINT: z.string().url().optional(),
  S3_BUCKET: z.string().min(1).optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: envFields.bool(false),
  S3_PREFIX: z.string().default(''),
  S3_TIMEOUT_MS: envFields.ms(30_000),
};

export { z };
