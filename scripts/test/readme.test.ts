import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PUBLIC_CODES } from '../../gateway/src/errors';
import { permissionsTable } from '../lib/permissions-table';
import { repoRoot } from '../lib/paths';

const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
/** A `## Heading` section of the README, up to the next one. */
const section = (heading: string) => new RegExp(`^## ${heading}\\n([\\s\\S]*?)(?=^## )`, 'm').exec(readme)?.[1] ?? '';

describe('README', () => {
  it('shows the permission matrix exactly as the code defines it (run: pnpm tsx scripts/lib/permissions-table.ts)', () => {
    expect(readme).toContain(permissionsTable());
  });

  it('lists every error code a client can see, and no other', () => {
    const errors = section('Errors');
    const listed = new Set([...errors.matchAll(/`([A-Z][A-Z_]+)`/g)].map((m) => m[1]!));
    expect([...listed].sort()).toEqual([...PUBLIC_CODES].sort());
  });

  it('describes refresh-token reuse as the schema does (the REFRESH_REUSE_GRACE_S exception included)', () => {
    const sdl = readFileSync(path.join(repoRoot, 'services/identity/src/schema.graphql'), 'utf8');
    const description = /"""((?:(?!""")[\s\S])*)"""\s*refreshToken\(/.exec(sdl)?.[1] ?? /"([^"]*)"\s*refreshToken\(/.exec(sdl)?.[1] ?? '';
    for (const text of [section('Security'), description]) {
      expect(text).toMatch(/revokes its whole family/);
      expect(text).toMatch(/REFRESH_REUSE_GRACE_S/);
      expect(text).toMatch(/default 10/);
    }
  });
});
