/** Summarises V8 .cpuprofile files (node --cpu-prof): self time by package/area and the hottest functions. */
import { readFileSync } from 'node:fs';

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
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

export function summarizeProfile(files: string[], top = 15): string {
  const byArea = new Map<string, number>();
  const byFn = new Map<string, number>();
  let total = 0;
  for (const f of files) {
    const prof = JSON.parse(readFileSync(f, 'utf8')) as CpuProfile;
    const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
    prof.samples.forEach((id, i) => {
      const n = nodes.get(id);
      const dt = (prof.timeDeltas[i] ?? 0) / 1000;
      if (!n || n.callFrame.functionName === '(idle)') return;
      total += dt;
      const area = areaOf(n.callFrame.url, n.callFrame.functionName);
      byArea.set(area, (byArea.get(area) ?? 0) + dt);
      // Our own frames name their file (tsx's transpiled lines say little on their own).
      const file = area.startsWith('ours: ') ? `/${n.callFrame.url.split('/').pop()}` : '';
      const fnKey = `${n.callFrame.functionName || '(anonymous)'} — ${area}${file}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
      byFn.set(fnKey, (byFn.get(fnKey) ?? 0) + dt);
    });
  }
  const table = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `| ${k} | ${v.toFixed(0)} | ${((v / total) * 100).toFixed(1)}% |`)
      .join('\n');
  return `### Where our gateway's CPU goes (node --cpu-prof, ${files.length} profile(s), ${total.toFixed(0)} ms busy, self time)

| area | ms | share |
|---|---|---|
${table(byArea)}

| hottest functions (self) | ms | share |
|---|---|---|
${table(byFn)}
`;
}

interface HeapNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: HeapNode[];
}
interface HeapProfile {
  head: HeapNode;
  samples?: { size: number; nodeId: number }[];
}

/**
 * Summarises V8 sampling heap profiles (bench/lib/cpu-prof-window.mjs with COS_PROF_KIND=heap, freed objects included): bytes allocated by
 * area and by allocating function. `requests` (answers served in the window) turns totals into bytes per request.
 */
export function summarizeHeapProfile(files: string[], requests: number, top = 15): string {
  const byArea = new Map<string, number>();
  const byFn = new Map<string, number>();
  let total = 0;
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
      if (!n) continue;
      total += s.size;
      const area = areaOf(n.callFrame.url, n.callFrame.functionName);
      byArea.set(area, (byArea.get(area) ?? 0) + s.size);
      const file = area.startsWith('ours: ') ? `/${n.callFrame.url.split('/').pop()}` : '';
      const fnKey = `${n.callFrame.functionName || '(anonymous)'} — ${area}${file}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
      byFn.set(fnKey, (byFn.get(fnKey) ?? 0) + s.size);
    }
  }
  const per = Math.max(1, requests);
  const table = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `| ${k} | ${(v / 1024 / per).toFixed(1)} | ${((v / total) * 100).toFixed(1)}% |`)
      .join('\n');
  return `### What our gateway allocates (V8 sampling heap profiler, freed objects included, ${files.length} profile(s), ${(total / 1024 / 1024).toFixed(0)} MiB, ${(total / 1024 / per).toFixed(0)} KiB per request)

| area | KiB/request | share |
|---|---|---|
${table(byArea)}

| allocating functions (self) | KiB/request | share |
|---|---|---|
${table(byFn)}
`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(summarizeProfile(process.argv.slice(2)));
}
