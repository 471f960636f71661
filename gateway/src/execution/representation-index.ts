/**
 * Positions of entity representations by content, for de-duplicating the representations of `_entities` fetches
 * (the executor's per-fetch list, plan.ts, and the entity batcher's per-request list) without building a string key
 * per representation: concatenated keys were the executor's largest allocation on the Guild workload (~180 KiB per
 * answer for ~460 entities, bench/executor.bench.ts).
 *
 * A flat representation (every value a string, number, boolean or null: `{ __typename, id }`, `{ __typename, upc,
 * price, weight }`) is filed under its first value other than `__typename` (its key field, as a rule) and compared
 * field by field with the representations filed there before: a new one costs one Map entry, a repeated one nothing.
 * Equal means the same names with equal values, in any order (both stand for the same entity); values compare as
 * their JSON texts would: `"1"` and `1` differ, `0` and `-0` do not. Anything else (nested objects, lists, undefined
 * values) goes by its JSON text, in a map of its own: a flat and a nested representation are never taken for each
 * other. (A trie of Maps over every (name, value) pair did the same with a Map per field of every new
 * representation: ~60 KiB per Guild answer.)
 */
export class RepresentationIndex {
  /** First value → the position of the flat representation(s) filed under it. */
  private readonly byFirst = new Map<unknown, number | number[]>();
  /** The flat representations by position (positions are the callers' list indexes). */
  private readonly flat: Record<string, unknown>[] = [];
  private byJson: Map<string, number> | undefined;

  /** The position recorded for an equal representation, or -1 after recording `at` for this one. */
  positionOf(rep: Record<string, unknown>, at: number): number {
    let first: unknown = NO_VALUE;
    for (const name in rep) {
      const value = rep[name];
      if (value !== null && typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return this.byText(rep, at);
      if (first === NO_VALUE && name !== '__typename') first = value;
    }
    const filed = this.byFirst.get(first);
    if (filed === undefined) this.byFirst.set(first, at);
    else if (typeof filed === 'number') {
      if (sameFlat(this.flat[filed]!, rep)) return filed;
      this.byFirst.set(first, [filed, at]);
    } else {
      for (const p of filed) if (sameFlat(this.flat[p]!, rep)) return p;
      filed.push(at);
    }
    this.flat[at] = rep;
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

/** The first value of a representation with no field but `__typename`. */
const NO_VALUE = Symbol('no value');

const hasOwn = Object.prototype.hasOwnProperty;

/** Two flat representations with the same names and equal (===) values. */
function sameFlat(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  let fields = 0;
  for (const name in a) {
    if (!hasOwn.call(b, name) || a[name] !== b[name]) return false;
    fields++;
  }
  for (const name in b) if (hasOwn.call(b, name)) fields--;
  return fields === 0;
}
