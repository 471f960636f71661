/** CPU time of a process tree from /proc (Linux): the tsx wrapper and the node process it spawns. */
import { readFileSync } from 'node:fs';

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux x86_64

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function ownCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that closes comm: state is field 3, utime 14, stime 15 (1-based).
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** utime+stime and cutime+cstime (children already reaped by `pid`) in milliseconds. */
function cpuFields(pid: number): { own: number; reaped: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms = (a?: string, b?: string) => ((Number(a) + Number(b)) * 1000) / CLK_TCK;
    return { own: ms(rest[11], rest[12]), reaped: ms(rest[13], rest[14]) };
  } catch {
    return { own: 0, reaped: 0 };
  }
}

/**
 * CPU milliseconds of a Postgres server by kind of process: client backends (`postgres: user db host(port) ...`), each
 * auxiliary process by its title (walwriter, checkpointer, ...), and `exited` = processes already reaped by the
 * postmaster (backends that disconnected, autovacuum workers) — treeCpuMs misses those.
 */
export function postgresCpuMs(postmasterPid: number): Map<string, number> {
  const out = new Map<string, number>();
  const add = (k: string, v: number) => out.set(k, (out.get(k) ?? 0) + v);
  const root = cpuFields(postmasterPid);
  add('postmaster', root.own);
  add('exited (reaped) processes', root.reaped);
  for (const c of children(postmasterPid)) {
    let title: string;
    try {
      title = readFileSync(`/proc/${c}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    } catch {
      continue;
    }
    const m = /^postgres: (.*)$/.exec(title);
    const kind = !m ? 'other' : /\(\d+\)/.test(m[1]!) || /^\S+ \S+ (\[local\]|\d)/.test(m[1]!) ? 'client backends' : m[1]!.replace(/\s+\S*\d\S*$/, '').trim();
    add(kind, cpuFields(c).own);
  }
  return out;
}

/** user+system CPU milliseconds of `pid` and all its descendants (10 ms resolution). */
export function treeCpuMs(pid: number): number {
  let total = ownCpuMs(pid);
  for (const c of children(pid)) total += treeCpuMs(c);
  return total;
}

/** The pid and its descendants (tsx runs node as a child; taskset execs in place). */
export function treePids(pid: number): number[] {
  return [pid, ...children(pid).flatMap(treePids)];
}

/** Resident memory (MiB) of the tree. */
export function treeRssMiB(pid: number): number {
  let kb = 0;
  const walk = (p: number) => {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += m ? Number(m[1]) : 0;
    } catch {
      /* gone */
    }
    for (const c of children(p)) walk(c);
  };
  walk(pid);
  return kb / 1024;
}
