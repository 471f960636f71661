/** Summarises V8 .cpuprofile files (node --cpu-prof): self time by package/area and the hottest functions. */
import { readFileSync } from 'node:fs';

interface CpuNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: CpuNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives: an npm package, node's internals, our own source, or V8 bookkeeping. */
export function areaOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native/V8)';
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pnpm) return pnpm[1]!;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return url.startsWith('node:internal/deps/undici') ? 'node:undici (global fetch)' : 'node: internals';
  const own = /\/(gateway|packages\/[^/]+|services\/[^/]+|bench|scripts)\//.exec(url);
  return own ? `ours: ${own[1]}` : url;
}

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

/** Amounts (ms of CPU, bytes allocated) per area and per function of the frames they were sampled in. */
class Tally {
  readonly byArea = new Map<string, number>();
  readonly byFn = new Map<string, number>();
  total = 0;

  add(frame: CallFrame, amount: number): void {
    this.total += amount;
    const area = areaOf(frame.url, frame.functionName);
    this.byArea.set(area, (this.byArea.get(area) ?? 0) + amount);
    // Our own frames name their file (tsx's transpiled lines say little on their own).
    const file = area.startsWith('ours: ') ? `/${frame.url.split('/').pop()}` : '';
    const fnKey = `${frame.functionName || '(anonymous)'} — ${area}${file}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    this.byFn.set(fnKey, (this.byFn.get(fnKey) ?? 0) + amount);
  }

  /** Markdown rows of the `top` largest entries: name, the amount as `show` writes it, share of the total. */
  rows(m: Map<string, number>, top: number, show: (v: number) => string): string {
    return [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `| ${k} | ${show(v)} | ${((v / this.total) * 100).toFixed(1)}% |`)
      .join('\n');
  }
}

export function summarizeProfile(files: string[], top = 15): string {
  const t = new Tally();
  for (const f of files) {
    const prof = JSON.parse(readFileSync(f, 'utf8')) as CpuProfile;
    const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
    prof.samples.forEach((id, i) => {
      const n = nodes.get(id);
      if (!n || n.callFrame.functionName === '(idle)') return;
      t.add(n.callFrame, (prof.timeDeltas[i] ?? 0) / 1000);
    });
  }
  const ms = (v: number) => v.toFixed(0);
  return `### Where our gateway's CPU goes (node --cpu-prof, ${files.length} profile(s), ${t.total.toFixed(0)} ms busy, self time)

| area | ms | share |
|---|---|---|
${t.rows(t.byArea, top, ms)}

| hottest functions (self) | ms | share |
|---|---|---|
${t.rows(t.byFn, top, ms)}
`;
}

interface HeapNode {
  id: number;
  callFrame: CallFrame;
  children?: HeapNode[];
}
interface HeapProfile {
  head: HeapNode;
  samples?: { size: number; nodeId: number }[];
}

/**
 * Summarises V8 sampling heap profiles (bench/lib/cpu-prof-window.mjs with COS_PROF_KIND=heap, freed objects
 * included): bytes allocated by area and by allocating function. `requests` (answers served in the window) turns
 * totals into bytes per request.
 */
export function summarizeHeapProfile(files: string[], requests: number, top = 15, what = 'freed objects included'): string {
  const t = new Tally();
  for (const f of files) {
    const prof = JSON.parse(readFileSync(f, 'utf8')) as HeapProfile;
    const nodes = new Map<number, HeapNode>();
    const stack: HeapNode[] = [prof.head];
    while (stack.length > 0) {
      const n = stack.pop()!;
      nodes.set(n.id, n);
      for (const c of n.children ?? []) stack.push(c);
    }
    for (const s of prof.samples ?? []) {
      const n = nodes.get(s.nodeId);
      if (n) t.add(n.callFrame, s.size);
    }
  }
  const per = Math.max(1, requests);
  const kib = (v: number) => (v / 1024 / per).toFixed(1);
  return `### What our gateway allocates (V8 sampling heap profiler, ${what}, ${files.length} profile(s), ${(t.total / 1024 / 1024).toFixed(0)} MiB, ${(t.total / 1024 / per).toFixed(0)} KiB per request)

| area | KiB/request | share |
|---|---|---|
${t.rows(t.byArea, top, kib)}

| allocating functions (self) | KiB/request | share |
|---|---|---|
${t.rows(t.byFn, top, kib)}
`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(summarizeProfile(process.argv.slice(2)));
}
