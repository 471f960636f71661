import { safeParseEnv, z } from '@cos/config';
import { configureMasterKeys } from '@cos/pii';

/**
 * The PII master keys for a command-line tool (rebuild, rotation), from the same env as the services:
 * PII_MASTER_KEY (or PII_MASTER_KEY_FILE) and PII_PREVIOUS_MASTER_KEYS (or its _FILE). Throws a message on bad env.
 */
export function configurePiiFromEnv(source: NodeJS.ProcessEnv = process.env) {
  const r = safeParseEnv(z.object({ PII_MASTER_KEY: z.string().min(1).optional(), PII_PREVIOUS_MASTER_KEYS: z.string().default('') }), source);
  if (!r.success) throw new Error(r.issues.map((i) => `${i.name}: ${i.message}`).join('; '));
  return configureMasterKeys(r.data.PII_MASTER_KEY, r.data.PII_PREVIOUS_MASTER_KEYS.split(',').map((k) => k.trim()).filter(Boolean));
}
