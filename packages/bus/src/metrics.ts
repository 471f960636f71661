/**
 * Optional hooks for the observability layer (prom-client counters/histograms are plugged in by the caller; the
 * bus has no metrics dependency). Hooks must not throw; errors from them are swallowed.
 */
export interface BusMetrics {
  /** The relay published `n` events (after their PubAcks). */
  onPublished?(n: number): void;
  /** A consumer finished one event; `lagMs` = now - event.occurredAt (end-to-end event lag). */
  onProcessed?(consumer: string, lagMs: number): void;
  /** A consumer gave up on an event and dead-lettered it. */
  onDeadLetter?(consumer: string): void;
}

export function safeMetric(fn: () => void): void {
  try {
    fn();
  } catch {
    // a metrics bug must never break event delivery
  }
}
