/**
 * Reads a request body of at most `limit` bytes: the bytes, or null as soon as it is longer (the rest is not read;
 * the stream is cancelled). For routes that must refuse oversized bodies before parsing them (413).
 */
export async function readBodyCapped(req: Request, limit: number): Promise<Buffer | null> {
  if (!req.body) return Buffer.alloc(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
