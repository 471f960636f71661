/**
 * Every Prometheus alert has a runbook and every runbook an alert: infra/prometheus/alerts.yml ↔ docs/runbooks/<Alert>.md,
 * the alert's `runbook_url` names its file, and each runbook has the four parts an on-call engineer needs.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../lib/paths';

interface Rule {
  alert?: string;
  record?: string;
  annotations?: Record<string, string>;
}
const rulesFile = path.join(repoRoot, 'infra/prometheus/alerts.yml');
const runbookDir = path.join(repoRoot, 'docs/runbooks');
const alerts = (parse(readFileSync(rulesFile, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups
  .flatMap((g) => g.rules)
  .filter((r): r is Rule & { alert: string } => typeof r.alert === 'string');
const runbooks = readdirSync(runbookDir)
  .filter((f) => f.endsWith('.md') && f !== 'README.md')
  .map((f) => f.replace(/\.md$/, ''));

describe('runbooks (docs/runbooks) for the alerts (infra/prometheus/alerts.yml)', () => {
  it('finds the alerts', () => {
    expect(alerts.length).toBeGreaterThan(10);
  });

  it('every alert has a runbook file and its runbook_url points at it', () => {
    for (const a of alerts) {
      expect(existsSync(path.join(runbookDir, `${a.alert}.md`)), `docs/runbooks/${a.alert}.md`).toBe(true);
      expect(a.annotations?.runbook_url, `${a.alert}: runbook_url`).toBe(`docs/runbooks/${a.alert}.md`);
    }
  });

  it('every runbook belongs to an alert (no stale runbooks), and the index lists each once', () => {
    const names = new Set(alerts.map((a) => a.alert));
    expect(runbooks.filter((r) => !names.has(r))).toEqual([]);
    const index = readFileSync(path.join(runbookDir, 'README.md'), 'utf8');
    for (const r of runbooks) expect(index.match(new RegExp(`\\[${r}\\.md\\]\\(${r}\\.md\\)`, 'g'))?.length, r).toBe(1);
  });

  it('each runbook names its alert and says what it means, how to confirm, mitigate and follow up', () => {
    for (const r of runbooks) {
      const text = readFileSync(path.join(runbookDir, `${r}.md`), 'utf8');
      expect(text.startsWith(`# ${r}\n`), `${r}: title`).toBe(true);
      for (const section of ['## What it means', '## Confirm', '## Mitigate', '## Follow up']) expect(text, `${r}: ${section}`).toContain(section);
    }
  });

  it('the alert names are unique', () => {
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length);
  });
});
