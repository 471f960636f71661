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

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(summarizeProfile(process.argv.slice(2)));
}
