/**
 * Lines up the `_entities` fetches of one client request so that the entity batcher (execution/entity-batcher.ts,
 * which merges the fetches of a request to a subgraph issued in the same tick) can merge fetches of different plan
 * branches. A plan's `Parallel` branches continue whenever their own answers arrive, so on their own the next
 * fetches of two branches to the same subgraph land in different ticks and go out as separate HTTP requests (13
 * instead of 8 per answer on the Guild workload, where @apollo/gateway's executor happens to line them up).
 *
 * The compiled plan knows, for each fetch, which subgraphs the fetch's continuation calls next (the first entity
 * fetches of the following node of its Sequence). While such a fetch is in flight, a ready entity fetch of the same
 * request to one of those subgraphs waits for its answer — the continuation then issues its own fetch in the same
 * tick as the released one, and the batcher sends both as one request. The wait is bounded (`maxHoldMs`), only
 * fetches already sent are waited for (a held fetch is never waited for, so holds cannot form a cycle), and nothing
 * else changes: representations are built before the wait, answers, errors and paths are those of the fetch alone.
 */
export class FetchAlignment {
  /** Per subgraph: fetches in flight whose continuation will call it. */
  private readonly expected = new Map<string, number>();
  private readonly waiters: { service: string; release: () => void }[] = [];

  constructor(private readonly maxHoldMs: number) {}

  /** A fetch went out; its continuation will call `services` (the plan's next entity fetches after it). */
  sent(services: readonly string[]): void {
    for (const s of services) this.expected.set(s, (this.expected.get(s) ?? 0) + 1);
  }

  /** That fetch's answer (or failure) arrived: entity fetches held for its continuation go in this tick. */
  answered(services: readonly string[]): void {
    if (services.length === 0) return;
    for (const s of services) {
      const n = (this.expected.get(s) ?? 1) - 1;
      if (n > 0) this.expected.set(s, n);
      else this.expected.delete(s);
    }
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (!this.expected.has(w.service)) w.release();
    }
  }

  /**
   * Undefined when no fetch in flight leads to `service` (send now); otherwise resolves once none does any more, or
   * after maxHoldMs.
   */
  hold(service: string): Promise<void> | undefined {
    if (this.maxHoldMs <= 0 || !this.expected.has(service)) return undefined;
    return new Promise<void>((resolve) => {
      const waiter = {
        service,
        release: () => {
          clearTimeout(timer);
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve();
        },
      };
      const timer = setTimeout(waiter.release, this.maxHoldMs);
      this.waiters.push(waiter);
    });
  }
}
