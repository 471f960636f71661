import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { envFields, resolveFileEnv, safeParseEnv, z } from '../src/index';

const dir = mkdtempSync(path.join(tmpdir(), 'cos-config-'));
const file = (name: string, content: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};
const schema = z.object({ INTERNAL_SECRET: envFields.secret(), REDIS_URL: z.string().default('redis://127.0.0.1:6379'), PORT: envFields.port(4000) });

describe('*_FILE secrets', () => {
  it('reads NAME from NAME_FILE without the trailing newline', () => {
    const secret = 'a'.repeat(40);
    const r = safeParseEnv(schema, { INTERNAL_SECRET_FILE: file('internal', `${secret}\n`), REDIS_URL_FILE: file('redis', 'redis://:pw@redis:6379\r\n') });
    expect(r).toEqual({ success: true, data: { INTERNAL_SECRET: secret, REDIS_URL: 'redis://:pw@redis:6379', PORT: 4000 } });
  });

  it('keeps inner whitespace and a value without newline as it is', () => {
    const r = resolveFileEnv({ X_FILE: file('x', '  two words  ') }, ['X']);
    expect(r.env.X).toBe('  two words  ');
    expect(r.issues).toEqual([]);
  });

  it('refuses NAME and NAME_FILE together', () => {
    const r = safeParseEnv(schema, { INTERNAL_SECRET: 'b'.repeat(40), INTERNAL_SECRET_FILE: file('both', 'c'.repeat(40)) });
    expect(r.success).toBe(false);
    expect(!r.success && r.issues).toEqual([{ name: 'INTERNAL_SECRET_FILE', message: 'set either INTERNAL_SECRET or INTERNAL_SECRET_FILE, not both' }]);
  });

  it('names a missing file clearly, and reports it with the other problems at once', () => {
    const missing = path.join(dir, 'nope');
    const r = safeParseEnv(schema, { INTERNAL_SECRET_FILE: missing, PORT: 'x' });
    expect(r.success).toBe(false);
    const issues = !r.success ? r.issues : [];
    expect(issues).toContainEqual({ name: 'INTERNAL_SECRET_FILE', message: `cannot read ${missing} (no such file)` });
    expect(issues.map((i) => i.name)).toContain('PORT');
    // The missing file is not reported a second time as a missing INTERNAL_SECRET.
    expect(issues.map((i) => i.name)).not.toContain('INTERNAL_SECRET');
  });

  it('validates a value read from a file like any other, without echoing it', () => {
    const r = safeParseEnv(schema, { INTERNAL_SECRET_FILE: file('short', 'short\n') });
    expect(r.success).toBe(false);
    expect(JSON.stringify(!r.success && r.issues)).not.toContain('short\\n');
  });

  it('ignores *_FILE for names the schema does not declare', () => {
    const r = safeParseEnv(schema, { INTERNAL_SECRET: 'd'.repeat(40), OTHER_FILE: path.join(dir, 'nope') });
    expect(r.success).toBe(true);
  });
});
