import { DeliverPolicy, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { Bus } from '@cos/bus';
import { serviceUnavailable } from '@cos/errors';
import type { Logger } from '@cos/logger';
import type { StoredEvent } from './fields';

/** An event as the subscription engine sees it: the body plus its JetStream stream sequence (the cursor). */
export interface SequencedEvent {
  seq: number;
  subject: string;
  event: StoredEvent;
}

export type FeedListener = (e: SequencedEvent) => void;

interface Feed {
  subject: string;
  listeners: Set<FeedListener>;
  /** Resolves once the ordered consumer exists and its start sequence is fixed. */
  ready: Promise<void>;
  messages?: ConsumerMessages;
  closed: boolean;
  /** Highest stream sequence delivered by this feed. */
  lastSeq: number;
}

function parse(m: JsMsg, log: Logger): SequencedEvent | null {
  try {
    return { seq: m.seq, subject: m.subject, event: m.json<StoredEvent>() };
  } catch (err) {
    log.warn({ err, subject: m.subject, seq: m.seq }, 'unparseable event body; skipped by the subscription bridge');
    return null;
  }
}

/**
 * Upstream JetStream subscriptions of one gateway process: ONE ordered (ephemeral, ack-less, flow-controlled)
 * consumer per subject, shared by every local subscriber of that subject and reference-counted — the last
 * listener gone, the consumer is stopped. Each gateway process has its own consumers, so instances fan out
 * independently (no sticky sessions, no shared in-memory state).
 *
 * A live feed starts at `last_seq + 1` of the stream read BEFORE the consumer is created, so the point where live
 * delivery begins is known exactly; `replay()` covers everything before it. That is what makes resume gap-free.
 */
export class Upstream {
  private readonly feeds = new Map<string, Feed>();

  constructor(
    private readonly link: { readonly bus: Bus | undefined; readonly up: boolean },
    /** The subject prefix (known from the environment before NATS is reached). */
    readonly prefix: string,
    private readonly log: Logger,
  ) {}

  /** The bus while NATS is connected; otherwise SERVICE_UNAVAILABLE (the gateway serves queries without NATS). */
  private get bus(): Bus {
    const bus = this.link.bus;
    if (!bus || !this.link.up) throw serviceUnavailable('Subscriptions are unavailable for a moment: the event bus is not connected; retry shortly');
    return bus;
  }

  /** Number of upstream consumers held (one per distinct subject). */
  get size(): number {
    return this.feeds.size;
  }

  async lastSequence(): Promise<number> {
    const info = await this.bus.jsm.streams.info(this.bus.streamName);
    return info.state.last_seq;
  }

  /** Adds a listener to the subject's feed (creating it); resolves when the feed is live. Returns the remover. */
  async listen(subject: string, listener: FeedListener): Promise<() => void> {
    let feed = this.feeds.get(subject);
    if (!feed) {
      const f: Feed = { subject, listeners: new Set(), ready: Promise.resolve(), closed: false, lastSeq: 0 };
      f.ready = this.start(f);
      this.feeds.set(subject, f);
      feed = f;
      f.ready.catch(() => {
        if (this.feeds.get(subject) === f) this.feeds.delete(subject);
      });
    }
    feed.listeners.add(listener);
    try {
      await feed.ready;
    } catch (err) {
      feed.listeners.delete(listener);
      throw err;
    }
    const f = feed;
    return () => {
      f.listeners.delete(listener);
      if (f.listeners.size === 0 && !f.closed) {
        f.closed = true;
        if (this.feeds.get(f.subject) === f) this.feeds.delete(f.subject);
        void f.ready.then(() => f.messages?.close()).catch(() => undefined);
      }
    };
  }

  private async start(feed: Feed): Promise<void> {
    const startSeq = (await this.lastSequence()) + 1;
    const consumer = await this.bus.js.consumers.get(this.bus.streamName, {
      filter_subjects: feed.subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: startSeq,
      inactive_threshold: 60_000_000_000,
    });
    feed.lastSeq = startSeq - 1;
    const messages = await consumer.consume({ max_messages: 512 });
    feed.messages = messages;
    if (feed.closed) {
      await messages.close();
      return;
    }
    void (async () => {
      try {
        for await (const m of messages) {
          const e = parse(m, this.log);
          if (!e) continue;
          feed.lastSeq = e.seq;
          for (const l of [...feed.listeners]) {
            try {
              l(e);
            } catch (err) {
              this.log.error({ err }, 'subscription listener failed');
            }
          }
        }
      } catch (err) {
        if (!feed.closed) this.log.error({ err, subject: feed.subject }, 'upstream feed failed');
      }
    })();
  }

  /**
   * Everything on `subject` with sequence in (after, until], in order, through a private ordered consumer. Used to
   * resume a subscription from a cursor; `until` is the stream's last sequence read after the live listener was
   * registered, so replay + live overlap instead of leaving a gap (the subscriber drops seq ≤ what it already has).
   */
  async replay(subject: string, after: number, until: number, onEvent: (e: SequencedEvent) => void, signal: AbortSignal): Promise<void> {
    if (until <= after) return;
    const consumer = await this.bus.js.consumers.get(this.bus.streamName, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: after + 1,
    });
    const info = await consumer.info();
    if (info.num_pending === 0) {
      await consumer.delete().catch(() => undefined);
      return;
    }
    const messages = await consumer.consume({ max_messages: 256 });
    const stop = () => void messages.close();
    signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const m of messages) {
        if (m.seq > until) break;
        const e = parse(m, this.log);
        if (e) onEvent(e);
        if (m.seq >= until || m.info.pending === 0) break;
      }
    } finally {
      signal.removeEventListener('abort', stop);
      await messages.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const feeds = [...this.feeds.values()];
    this.feeds.clear();
    await Promise.all(
      feeds.map(async (f) => {
        f.closed = true;
        await f.ready.catch(() => undefined);
        await f.messages?.close().catch(() => undefined);
      }),
    );
  }
}
