import { headers as natsHeaders } from '@nats-io/transport-node';
import type { StoredMsg } from '@nats-io/jetstream';
import type { Bus } from './connect';
import { BusHeaders } from './subjects';

export interface DeadLetter {
  /** Sequence in the DLQ stream: the handle for replay. */
  seq: number;
  /** `${prefix}dlq.<service>.<name>` */
  subject: string;
  service: string;
  consumer: string;
  /** Where the event was originally published (replay goes back there). */
  originalSubject: string;
  eventId: string | null;
  eventType: string | null;
  error: string;
  deliveryCount: number;
  deadAt: string;
  /** The original message body (a StoredEvent as JSON). */
  body: string;
}

function toDeadLetter(bus: Bus, m: StoredMsg): DeadLetter {
  const h = m.header;
  const rest = m.subject.slice(`${bus.prefix}dlq.`.length);
  const dot = rest.indexOf('.');
  return {
    seq: m.seq,
    subject: m.subject,
    service: dot === -1 ? rest : rest.slice(0, dot),
    consumer: h?.get(BusHeaders.DlqConsumer) || (dot === -1 ? '' : rest.slice(dot + 1)),
    originalSubject: h?.get(BusHeaders.DlqSubject) ?? '',
    eventId: h?.get(BusHeaders.EventId) || null,
    eventType: h?.get(BusHeaders.EventType) || null,
    error: h?.get(BusHeaders.DlqError) ?? '',
    deliveryCount: Number(h?.get(BusHeaders.DlqDeliveryCount) || 0),
    deadAt: m.time.toISOString(),
    body: new TextDecoder().decode(m.data),
  };
}

async function getDeadLetter(bus: Bus, seq: number): Promise<StoredMsg | null> {
  try {
    return await bus.jsm.streams.getMessage(bus.dlqStreamName, { seq });
  } catch (err) {
    // A deleted sequence (already replayed) reads as "no message found".
    if ((err as { code?: number }).code === 10037) return null;
    throw err;
  }
}

/**
 * Dead letters in the DLQ stream, oldest first, optionally of one service. Reads message by message (the DLQ is
 * small by design; `limit` bounds the scan, default 1000).
 */
export async function listDeadLetters(bus: Bus, opts: { service?: string; limit?: number } = {}): Promise<DeadLetter[]> {
  const limit = opts.limit ?? 1_000;
  const info = await bus.jsm.streams.info(bus.dlqStreamName);
  const out: DeadLetter[] = [];
  if (info.state.messages === 0) return out;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && out.length < limit; seq++) {
    const m = await getDeadLetter(bus, seq);
    if (!m) continue;
    const dl = toDeadLetter(bus, m);
    if (opts.service && dl.service !== opts.service) continue;
    out.push(dl);
  }
  return out;
}

/**
 * Republishes dead letters to their original subjects and removes them from the DLQ. The new message id is
 * `<eventId>:replay:<dlqSeq>` so JetStream's duplicate window does not drop it (yet a replay retried after a crash
 * is de-duplicated); every consumer matching the subject sees it again, and their inboxes make the effect happen
 * at most once. Returns the replayed entries.
 */
export async function replayDeadLetter(bus: Bus, target: number | 'all', opts: { service?: string } = {}): Promise<DeadLetter[]> {
  const targets =
    target === 'all'
      ? await listDeadLetters(bus, { service: opts.service, limit: Number.MAX_SAFE_INTEGER })
      : await (async () => {
          const m = await getDeadLetter(bus, target);
          if (!m) throw new Error(`no dead letter with sequence ${target} in ${bus.dlqStreamName}`);
          return [toDeadLetter(bus, m)];
        })();
  const done: DeadLetter[] = [];
  for (const dl of targets) {
    if (!dl.originalSubject.startsWith(`${bus.prefix}.`)) {
      throw new Error(`dead letter ${dl.seq} has no usable original subject (${JSON.stringify(dl.originalSubject)})`);
    }
    const m = await getDeadLetter(bus, dl.seq);
    if (!m) continue; // replayed meanwhile by someone else
    const h = natsHeaders();
    if (m.header) {
      for (const [k, values] of m.header) {
        if (k.startsWith('Nats-') || k.startsWith('Cos-Dlq-')) continue;
        for (const v of values) h.append(k, v);
      }
    }
    const eventId = dl.eventId ?? `dlq-${bus.dlqStreamName}`;
    await bus.js.publish(dl.originalSubject, m.data, { headers: h, msgID: `${eventId}:replay:${dl.seq}` });
    await bus.jsm.streams.deleteMessage(bus.dlqStreamName, dl.seq);
    done.push(dl);
  }
  return done;
}
