/**
 * releaseTree (executor/release.ts): after an answer's text exists, every object and array link of the merged tree
 * is cut, so old-generation parts of it cannot keep young parts alive. Shared objects and cycles end.
 */
import { describe, expect, it } from 'vitest';
import { releaseTree } from '../src/execution/executor/release';

describe('releaseTree', () => {
  it('cuts every object and array link, leaving scalars in place', () => {
    const leaf = { id: 'p1', n: 1 };
    const list = [leaf, { id: 'p2' }, 'x', 3, null];
    const root: Record<string, unknown> = { a: { b: { c: leaf }, list }, s: 'kept', n: 7, t: true, z: null };
    releaseTree(root);
    expect(root).toEqual({ a: null, s: 'kept', n: 7, t: true, z: null });
    // Reached through `a`: cut as well, scalars kept.
    expect(list).toEqual([null, null, 'x', 3, null]);
    expect(leaf).toEqual({ id: 'p1', n: 1 });
  });

  it('visits a shared object once and ends on cycles', () => {
    const shared: Record<string, unknown> = { inner: { v: 1 } };
    const a: Record<string, unknown> = { x: shared, y: shared };
    a.self = a;
    shared.back = a;
    releaseTree(a);
    expect(a).toEqual({ x: null, y: null, self: null });
    expect(shared).toEqual({ inner: null, back: null });
  });

  it('ignores scalars and null', () => {
    expect(() => {
      releaseTree(null);
      releaseTree(undefined);
      releaseTree('text');
      releaseTree(1);
    }).not.toThrow();
  });
});
