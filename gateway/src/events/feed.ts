import type { Bus } from '@cos/bus';
import type { ServiceName } from '@cos/events';
import type { Logger } from '@cos/logger';
import type { BusLink } from './bus';

/**
 * The gateway's one reader of the domain events on core NATS: a single subscription on
 * `<prefix>.<orgId>.<service>.<streamType>.<Type>` (JetStream publishes reach core subscribers too; every gateway
 * instance has its own), dispatched to handlers registered with subject patterns built by @cos/events'
 * `eventSubject` — so what a handler listens on is checked against the event catalog at compile time.
 *
 * Core NATS keeps no state: while the connection is down (or before NATS was ever reached: see BusLink) events pass
 * unseen. `live` says whether the feed is confirmed registered and connected; consumers that must not act on a stale view (the response cache) follow it.
 * The subscription bridge's resumable JetStream consumers live in subscriptions/upstream.ts (they need stream
 * sequences and replay, which core NATS does not give).
 */
export interface FeedEvent {
  orgId: string;
  service: string;
  streamType: string;
  type: string;
  subject: string;
  /** The event body (the event store's StoredEvent), parsed on first use. */
  body<T = unknown>(): T;
}

export type FeedHandler = (e: FeedEvent) => void | Promise<void>;

/** `<service>.>`, `<service>.<stream>.>`, `<service>.<stream>.<Type>` (from eventSubject) or `>` for everything. */
export type FeedPattern = `${ServiceName}.${string}` | '>';

export interface EventFeed {
  on(pattern: FeedPattern, handler: FeedHandler): () => void;
  /** Registered and connected: no event can have been missed since `live` last turned true. */
  readonly live: boolean;
  /** Called with each change of `live` (false on a disconnect, true once the subscription is confirmed again). */
  onLiveChange(listener: (live: boolean) => void): () => void;
  stop(): void;
}

function matches(pattern: FeedPattern, tokens: readonly string[]): boolean {
  if (pattern === '>') return true;
  const p = pattern.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return true;
    if (p[i] !== tokens[i]) return false;
  }
  return p.length === tokens.length;
}

export function createEventFeed(link: BusLink, log: Logger): EventFeed {
  const handlers = new Set<{ pattern: FeedPattern; handler: FeedHandler }>();
  const liveListeners = new Set<(live: boolean) => void>();
  let live = false;
  let registered = false;
  let stopped = false;
  let sub: { unsubscribe(): void } | undefined;
  const setLive = (v: boolean) => {
    if (live === v) return;
    live = v;
    for (const l of liveListeners) l(v);
  };

  const dispatch = async (subject: string, json: () => unknown) => {
    const t = subject.split('.');
    if (t.length !== 5) return; // not a domain event (dead letters live under `<prefix>dlq.`)
    const [, orgId, service, streamType, type] = t as [string, string, string, string, string];
    const rest = [service, streamType, type];
    let parsed: unknown;
    let parsedOk = false;
    const event: FeedEvent = {
      orgId,
      service,
      streamType,
      type,
      subject,
      body<T>() {
        if (!parsedOk) {
          parsed = json();
          parsedOk = true;
        }
        return parsed as T;
      },
    };
    for (const h of handlers) {
      if (!matches(h.pattern, rest)) continue;
      try {
        await h.handler(event);
      } catch (err) {
        log.warn({ err: (err as Error).message, subject }, 'event feed handler failed');
      }
    }
  };

  const start = (bus: Bus) => {
    if (stopped) return;
    const s = bus.nc.subscribe(`${bus.prefix}.>`);
    sub = s;
    void (async () => {
      for await (const msg of s) await dispatch(msg.subject, () => msg.json());
    })().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'event feed ended'));
    // The subscription is registered with the server once flush() answers: from then on no event is missed.
    void bus.nc
      .flush()
      .then(() => {
        if (stopped) return;
        registered = true;
        setLive(link.up);
      })
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'event feed not confirmed; staying not live'));
  };
  link.onUpChange((up) => {
    if (stopped || !registered) return;
    if (!up) log.warn('nats disconnected: the event feed may miss events until it is back');
    else log.info('nats reconnected: event feed back');
    setLive(up);
  });
  link.onConnected(start);

  return {
    on(pattern, handler) {
      const h = { pattern, handler };
      handlers.add(h);
      return () => void handlers.delete(h);
    },
    get live() {
      return live;
    },
    onLiveChange(listener) {
      liveListeners.add(listener);
      return () => void liveListeners.delete(listener);
    },
    stop() {
      stopped = true;
      setLive(false);
      sub?.unsubscribe();
    },
  };
}
