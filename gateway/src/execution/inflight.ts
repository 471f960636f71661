/**
 * In-flight deduplication: while a call for `key` is running, further calls with the same key wait for it instead of
 * starting their own; the entry is dropped as soon as the call settles (success or failure), so nothing is cached
 * beyond the lifetime of one round trip. Callers get the same settled value, so share immutable values only (the data
 * source shares the response TEXT and parses it per caller, because @apollo/gateway merges into parsed results).
 */
export class InFlight<T> {
  private readonly running = new Map<string, Promise<T>>();
  /** Calls that joined a running one instead of starting their own (for metrics and the bench). */
  joined = 0;
  started = 0;

  run(key: string, start: () => Promise<T>): Promise<T> {
    const existing = this.running.get(key);
    if (existing) {
      this.joined++;
      return existing;
    }
    this.started++;
    const p = start().finally(() => {
      if (this.running.get(key) === p) this.running.delete(key);
    });
    this.running.set(key, p);
    return p;
  }

  get size(): number {
    return this.running.size;
  }
}

/**
 * Only reads may be shared: a subgraph operation planned by @apollo/gateway is `query …`, `mutation …` or an
 * anonymous `{ … }` selection (a query). Mutations and subscriptions always go out on their own.
 */
export function isSharableOperation(query: string | undefined): boolean {
  if (!query) return false;
  const head = query.trimStart();
  return head.startsWith('{') || /^query\b/.test(head);
}
