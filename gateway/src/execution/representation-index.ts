/**
 * Positions of entity representations by content, for de-duplicating the representations of `_entities` fetches
 * (the executor's per-fetch list, plan.ts, and the entity batcher's per-request list) without building a string key
 * per representation: concatenated keys were the executor's largest allocation on the Guild workload (~180 KiB per
 * answer for ~460 entities, bench/executor.bench.ts).
 *
 * A flat representation (every value a string, number, boolean or null: `{ __typename, id }`, `{ __typename, upc,
 * price, weight }`) is looked up in a trie of Maps over its (name, value) pairs in order, so a repeated one allocates
 * nothing. Map keys compare as the JSON texts would: `"1"` and `1` differ, `0` and `-0` do not. Anything else
 * (nested objects, lists, undefined values) goes by its JSON text, in a map of its own: a flat and a nested
 * representation are never taken for each other.
 */
export class RepresentationIndex {
  private readonly root: TrieNode = { at: -1, next: undefined };
  private byJson: Map<string, number> | undefined;

  /** The position recorded for an equal representation, or -1 after recording `at` for this one. */
  positionOf(rep: Record<string, unknown>, at: number): number {
    let node = this.root;
    for (const name in rep) {
      const value = rep[name];
      if (value !== null && typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return this.byText(rep, at);
      const next = (node.next ??= new Map());
      let values = next.get(name);
      if (!values) next.set(name, (values = new Map()));
      let child = values.get(value);
      if (!child) values.set(value, (child = { at: -1, next: undefined }));
      node = child;
    }
    if (node.at >= 0) return node.at;
    node.at = at;
    return -1;
  }

  private byText(rep: Record<string, unknown>, at: number): number {
    const key = JSON.stringify(rep);
    const map = (this.byJson ??= new Map());
    const seen = map.get(key);
    if (seen !== undefined) return seen;
    map.set(key, at);
    return -1;
  }
}

interface TrieNode {
  /** Position of the representation ending here, -1 when none does. */
  at: number;
  next: Map<string, Map<unknown, TrieNode>> | undefined;
}
