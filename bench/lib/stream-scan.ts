/**
 * Reads every message of a JetStream stream (optionally one filter subject) with an ordered, headers-only consumer:
 * its sequence, subject and Nats-Msg-Id. For the exactly-once checks of the soak and chaos benches.
 */
import type { Bus } from '@cos/bus';

export interface ScannedMsg {
  seq: number;
  subject: string;
  msgId: string | null;
}

export async function scanStream(bus: Bus, opts: { stream?: string; filter?: string; fromSeq?: number; timeoutMs?: number } = {}): Promise<ScannedMsg[]> {
  const stream = opts.stream ?? bus.streamName;
  const info = await bus.jsm.streams.info(stream);
  const out: ScannedMsg[] = [];
  if (info.state.messages === 0) return out;
  type Ordered = NonNullable<Exclude<Parameters<Bus['js']['consumers']['get']>[1], string>>;
  const ordered: Ordered = { headers_only: true };
  // One subject as a string: the client then sets filter_subject (NATS 2.9 has no filter_subjects).
  if (opts.filter) ordered.filter_subjects = opts.filter;
  if (opts.fromSeq) Object.assign(ordered, { deliver_policy: 'by_start_sequence', opt_start_seq: opts.fromSeq });
  const consumer = await bus.js.consumers.get(stream, ordered);
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const batch = await consumer.fetch({ max_messages: 1_000, expires: 2_000 });
    let n = 0;
    let pending = 0;
    for await (const m of batch) {
      n++;
      pending = m.info.pending;
      out.push({ seq: m.seq, subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id') || null });
    }
    if ((n > 0 && pending === 0) || n === 0) break;
    if (Date.now() > deadline) throw new Error(`scanning ${stream} took longer than ${opts.timeoutMs ?? 60_000} ms`);
  }
  return out;
}
