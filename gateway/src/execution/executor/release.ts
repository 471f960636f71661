/**
 * Cuts every object and array link inside a request's merged result tree once its answer text exists.
 *
 * Why: the tree is built over the whole request (one subgraph answer after another, ~100 ms under load), so its
 * first objects are usually promoted to V8's old generation before the last answers are merged into them. When the
 * request ends, those old objects are garbage, but only a mark-compact finds that out: until then every scavenge
 * treats their fields as roots, so the young objects merged in last survive, are copied and then promoted too
 * ("nepotism"). On the Guild workload that kept ~9–10 MB per scavenge alive (promotion rate ~85 %), and the old
 * generation filled in ~3 s, each mark-compact stalling the event loop for 75–190 ms on a gateway confined to one
 * core — the requests caught in a stall were the p99. Cutting the links after serialisation halves the promoted
 * bytes (bench/README.md, "GC and the p99").
 *
 * Only for a tree nothing reads any more: it mutates every object reachable from `root`, including leaf values
 * (custom scalars) the shaped answer may share by reference. The slot is cleared before descending, so shared
 * objects are visited once and a cycle ends.
 */
export function releaseTree(root: unknown): void {
  if (root === null || typeof root !== 'object') return;
  if (Array.isArray(root)) {
    for (let i = 0; i < root.length; i++) {
      const v: unknown = root[i];
      if (v !== null && typeof v === 'object') {
        root[i] = null;
        releaseTree(v);
      }
    }
    return;
  }
  const o = root as Record<string, unknown>;
  for (const key in o) {
    const v = o[key];
    if (v !== null && typeof v === 'object') {
      o[key] = null;
      releaseTree(v);
    }
  }
}
