/** Called with each DataLoader batch's size (metrics: cos_dataloader_batch_size{loader}). */
export type BatchObserver = (loader: string, size: number) => void;

/** Groups batch rows by their parent key, so a loader answers each key with its children in one pass. */
export function groupBy<T>(rows: readonly T[], key: (r: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    const list = m.get(k);
    if (list) list.push(r);
    else m.set(k, [r]);
  }
  return m;
}
