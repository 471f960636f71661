/**
 * The backup and restore drill (issue 13) on a small seeded stack, as CI runs it: backup while writers are busy,
 * destroy the stack, its database and its JetStream streams, restore into a fresh database, then every table equals
 * the backup (counts and content hashes), read models rebuilt from the events equal the restored ones, and the
 * rebuilt stream holds every event once, in order. The restore time is printed.
 */
import { describe, expect, it } from 'vitest';
import { runDrill } from '../scripts/lib/drill';

describe('pnpm drill', () => {
  it('backs up a busy stack, restores it into a fresh database and proves it equal, read models and stream included', async () => {
    const lines: string[] = [];
    const r = await runDrill({ orgs: 2, writers: 3, opsBeforeBackup: 60, log: (m) => lines.push(m) });
    console.log(lines.join('\n'));
    expect(r.traffic.failed).toBe(0);
    expect(r.traffic.duringBackup).toBeGreaterThanOrEqual(0);
    expect(r.manifest.services.tasks!.tables.tasks!.rows).toBeGreaterThan(0);
    expect(r.manifest.services.tasks!.events).toBeGreaterThan(40);
    for (const svc of ['identity', 'tasks', 'customers', 'agents']) {
      expect(r.manifest.services[svc]!.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(r.streamMessages[svc]).toBe(r.events[svc]);
    }
    expect(r.rebuildDiffs).toEqual([]);
    expect(r.streamDiffs).toEqual([]);
    expect(r.restoreMs.total).toBeGreaterThan(0);
    expect(r.ok).toBe(true);
  }, 180_000);
});
