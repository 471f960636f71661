import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { permissionsTable } from '../lib/permissions-table';
import { repoRoot } from '../lib/paths';

describe('README', () => {
  it('shows the permission matrix exactly as the code defines it (run: pnpm tsx scripts/lib/permissions-table.ts)', () => {
    const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    expect(readme).toContain(permissionsTable());
  });
});
