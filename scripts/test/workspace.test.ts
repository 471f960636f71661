import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../lib/paths';

/** The workspace's packages (pnpm-workspace.yaml's `packages:` globs: a folder, or `folder/*`). */
function workspacePackages(): Array<{ name: string; deps: string[] }> {
  const yaml = readFileSync(path.join(repoRoot, 'pnpm-workspace.yaml'), 'utf8');
  const globs = /^packages:\n((?:\s+-\s.+\n)+)/m.exec(yaml)?.[1]?.match(/-\s+(.+)/g)?.map((l) => l.replace(/^-\s+/, '').replace(/['"]/g, '').trim()) ?? [];
  const dirs = globs.flatMap((g) =>
    g.endsWith('/*') ? readdirSync(path.join(repoRoot, g.slice(0, -2))).map((d) => path.join(g.slice(0, -2), d)) : [g],
  );
  return dirs
    .filter((d) => existsSync(path.join(repoRoot, d, 'package.json')))
    .map((d) => {
      const pkg = JSON.parse(readFileSync(path.join(repoRoot, d, 'package.json'), 'utf8')) as Record<string, Record<string, string> | string>;
      const deps = { ...(pkg.dependencies as object), ...(pkg.devDependencies as object), ...(pkg.peerDependencies as object) } as Record<string, string>;
      return { name: pkg.name as string, deps: Object.entries(deps).filter(([, v]) => v.startsWith('workspace:')).map(([k]) => k) };
    });
}

describe('workspace', () => {
  it('has no cyclic dependencies between its packages (pnpm install warns about them)', () => {
    const pkgs = workspacePackages();
    expect(pkgs.map((p) => p.name)).toEqual(expect.arrayContaining(['@cos/db', '@cos/testing', '@cos/gateway']));
    const deps = new Map(pkgs.map((p) => [p.name, p.deps]));
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (name: string, trail: string[]) => {
      if (state.get(name) === 'done') return;
      if (state.get(name) === 'visiting') {
        cycles.push([...trail.slice(trail.indexOf(name)), name].join(' → '));
        return;
      }
      state.set(name, 'visiting');
      for (const d of deps.get(name) ?? []) visit(d, [...trail, name]);
      state.set(name, 'done');
    };
    for (const p of pkgs) visit(p.name, []);
    expect(cycles).toEqual([]);
  });
});
