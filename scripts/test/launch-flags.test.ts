import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cpuBudget, gatewayV8Flags, repoRoot } from '../lib/paths';
import { nodeCommand } from '../lib/stack';

describe('cpuBudget', () => {
  it('is the affinity mask when no cgroup quota caps it', () => {
    expect(cpuBudget({}, 2, 'max 100000\n')).toBe(2);
    expect(cpuBudget({}, 1, undefined)).toBe(1);
  });
  it('is capped by a cgroup v2 quota, fractions kept', () => {
    expect(cpuBudget({}, 8, '150000 100000\n')).toBe(1.5);
    expect(cpuBudget({}, 1, '400000 100000')).toBe(1);
  });
  it('ignores an unreadable quota and takes a valid COS_CPU_BUDGET over both', () => {
    expect(cpuBudget({}, 4, 'garbage')).toBe(4);
    expect(cpuBudget({ COS_CPU_BUDGET: '0.5' }, 4, 'max 100000')).toBe(0.5);
    expect(cpuBudget({ COS_CPU_BUDGET: 'lots' }, 4, 'max 100000')).toBe(4);
    expect(cpuBudget({ COS_CPU_BUDGET: '-1' }, 4, '100000 100000')).toBe(1);
  });
});

describe('the gateway\'s V8 flags', () => {
  it('turn concurrent marking off under two CPUs only', () => {
    expect(gatewayV8Flags(1)).toEqual(['--no-concurrent-marking']);
    expect(gatewayV8Flags(1.5)).toEqual(['--no-concurrent-marking']);
    expect(gatewayV8Flags(2)).toEqual([]);
    expect(gatewayV8Flags(16)).toEqual([]);
  });

  it('go on the gateway\'s command line in the stack launcher, before the entry, and on no other process', () => {
    const before = process.env.COS_CPU_BUDGET;
    try {
      process.env.COS_CPU_BUDGET = '1';
      const gw = nodeCommand('gateway', '/x/gateway/src/index.ts', [], 'production');
      expect(gw.args[0]).toBe('--no-concurrent-marking');
      expect(nodeCommand('tasks', '/x/services/tasks/src/index.ts', [], 'production').args).not.toContain('--no-concurrent-marking');
      process.env.COS_CPU_BUDGET = '4';
      expect(nodeCommand('gateway', '/x/gateway/src/index.ts', [], 'production').args).not.toContain('--no-concurrent-marking');
    } finally {
      if (before === undefined) delete process.env.COS_CPU_BUDGET;
      else process.env.COS_CPU_BUDGET = before;
    }
  });

  describe('infra/docker/start.sh', () => {
    // A `node` on PATH that prints the command line the entry point would run.
    const bin = mkdtempSync(path.join(tmpdir(), 'start-sh-'));
    writeFileSync(path.join(bin, 'node'), '#!/bin/sh\necho "$*"\n');
    chmodSync(path.join(bin, 'node'), 0o755);
    afterAll(() => rmSync(bin, { recursive: true, force: true }));
    const run = (env: Record<string, string>, pin?: string) => {
      const script = path.join(repoRoot, 'infra/docker/start.sh');
      const [cmd, args] = pin ? ['taskset', ['-c', pin, 'sh', script]] : ['sh', [script]];
      const { COS_CPU_BUDGET: _b, ...inherited } = process.env;
      return execFileSync(cmd, args as string[], { env: { ...inherited, PATH: `${bin}:${process.env.PATH}`, ...env }, encoding: 'utf8' }).trim();
    };

    const hasTaskset = (() => {
      try {
        execFileSync('taskset', ['-c', '0', 'true']);
        return true;
      } catch {
        return false;
      }
    })();

    it('gives a gateway under two CPUs the flag (COS_CPU_BUDGET), and one with two none', () => {
      expect(run({ COS_SERVICE: 'gateway', COS_CPU_BUDGET: '2' })).not.toContain('--no-concurrent-marking');
      expect(run({ COS_SERVICE: 'gateway', COS_CPU_BUDGET: '1.5' }).split(' ')).toEqual(expect.arrayContaining(['--no-concurrent-marking', '--max-semi-space-size=64']));
    });

    it.runIf(hasTaskset)('reads the budget from the affinity mask: a gateway pinned to one core gets the flag', () => {
      expect(run({ COS_SERVICE: 'gateway' }, '0').split(' ')).toEqual(expect.arrayContaining(['--no-concurrent-marking', '--max-semi-space-size=64']));
    });

    it.runIf(hasTaskset)('leaves the subgraphs as they were', () => {
      expect(run({ COS_SERVICE: 'tasks' }, '0')).toBe(`--max-semi-space-size=32 --enable-source-maps ${repoRoot}/.build/services/tasks/src/index.mjs`);
    });
  });
});
