import { afterEach, describe, expect, it, vi } from 'vitest';
import { FetchAlignment } from '../src/execution/executor/fetch-alignment';

afterEach(() => {
  vi.useRealTimers();
});

describe('FetchAlignment', () => {
  it('sends at once when no fetch in flight leads to the subgraph', () => {
    const a = new FetchAlignment(5);
    a.sent(['products']);
    expect(a.hold('inventory')).toBeUndefined();
  });

  it('holds until every fetch leading to the subgraph is answered', async () => {
    const a = new FetchAlignment(1_000);
    a.sent(['inventory']);
    a.sent(['inventory', 'accounts']);
    let released = false;
    void a.hold('inventory')!.then(() => (released = true));
    a.answered(['inventory']);
    await Promise.resolve();
    expect(released).toBe(false);
    a.answered(['inventory', 'accounts']);
    await Promise.resolve();
    expect(released).toBe(true);
    expect(a.hold('inventory')).toBeUndefined();
  });

  it('never holds longer than its bound, and not at all with a bound of 0', async () => {
    vi.useFakeTimers();
    const a = new FetchAlignment(5);
    a.sent(['reviews']);
    let released = false;
    void a.hold('reviews')!.then(() => (released = true));
    await vi.advanceTimersByTimeAsync(4);
    expect(released).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(released).toBe(true);
    const off = new FetchAlignment(0);
    off.sent(['reviews']);
    expect(off.hold('reviews')).toBeUndefined();
  });
});
