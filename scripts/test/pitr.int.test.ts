/**
 * Point-in-time recovery (issue 13) on a scratch Postgres 15 cluster with WAL archiving to a local folder: a base
 * backup, writes, a noted time T, more writes and an accidental DELETE; recovery to T brings back exactly what was
 * committed before T.
 */
import { describe, expect, it } from 'vitest';
import { runPitrDrill } from '../lib/pitr';

describe('point-in-time recovery (pnpm drill --pitr)', () => {
  it('restores a base backup plus archived WAL to a point in time: the rows before it, none after, the DELETE undone', async () => {
    const lines: string[] = [];
    const r = await runPitrDrill({ log: (m) => lines.push(m) });
    console.log(lines.join('\n'));
    expect(r.rows.beforeAccident).toBe(2500);
    expect(r.rows.afterAccident).toBe(0);
    expect(r.rows.recovered).toBe(2000);
    expect(r.rows.batchC).toBe(0);
    expect(r.archivedWalFiles).toBeGreaterThan(0);
    expect(r.ok).toBe(true);
  }, 120_000);
});
