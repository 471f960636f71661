import { ExponentialBackoff, handleAll, retry } from 'cockatiel';
import type { Bus } from '@cos/bus';
import type { Logger } from '@cos/logger';

/**
 * The gateway's NATS connection, made in the background: queries and mutations need no event bus, so the gateway
 * starts and serves any supergraph while NATS is unreachable (a user's own subgraphs, the federation audit, a NATS
 * outage during a deploy). Until the first connection, and while NATS is disconnected afterwards, `up` is false:
 * subscriptions answer SERVICE_UNAVAILABLE, the response cache is off (nothing would invalidate it), /readyz and
 * `cos_dependency_up{dependency="nats"}` say so. The first connection is retried with capped exponential backoff
 * (cockatiel) forever; after it, nats.js reconnects by itself (maxReconnectAttempts -1 in @cos/bus).
 */
export interface BusLink {
  /** The connected bus, or undefined before the first connection. */
  readonly bus: Bus | undefined;
  /** Connected now (false before the first connection and while NATS is disconnected). */
  readonly up: boolean;
  /** Called once with the bus when the first connection is made (at once if it already is). */
  onConnected(listener: (bus: Bus) => void): void;
  /** Called on every change of `up`. */
  onUpChange(listener: (up: boolean) => void): void;
  close(): Promise<void>;
}

export interface BusLinkOptions {
  connect: () => Promise<Bus>;
  log: Logger;
  /** First retry delay and its cap (ms). */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

export function linkBus(opts: BusLinkOptions): BusLink {
  const { log } = opts;
  let bus: Bus | undefined;
  let up = false;
  let closed = false;
  const connectedListeners: Array<(bus: Bus) => void> = [];
  const upListeners: Array<(up: boolean) => void> = [];
  const setUp = (v: boolean) => {
    if (up === v) return;
    up = v;
    for (const l of upListeners) l(v);
  };
  const abort = new AbortController();
  // Retries forever: the process is useful without NATS, and becomes whole as soon as NATS is back.
  const policy = retry(handleAll, {
    maxAttempts: Number.MAX_SAFE_INTEGER,
    backoff: new ExponentialBackoff({ initialDelay: opts.initialDelayMs ?? 500, maxDelay: opts.maxDelayMs ?? 15_000 }),
  });
  let attempts = 0;
  policy.onRetry(({ delay }) => {
    attempts++;
    // First failure at warn, then every 10th: a long outage must not flood the logs.
    if (attempts === 1 || attempts % 10 === 0) {
      log.warn({ attempts, retryInMs: Math.round(delay) }, 'nats unreachable: serving queries and mutations; subscriptions and response-cache invalidation unavailable until it is back');
    }
  });
  const ready = policy
    .execute(async ({ signal }) => {
      if (signal.aborted) throw new Error('closed');
      return opts.connect();
    }, abort.signal)
    .then(async (b) => {
      if (closed) {
        await b.close();
        return;
      }
      bus = b;
      if (attempts > 0) log.info({ attempts }, 'nats connected: subscriptions and response-cache invalidation available');
      setUp(true);
      void (async () => {
        for await (const s of b.nc.status()) {
          if (s.type === 'disconnect') setUp(false);
          else if (s.type === 'reconnect') setUp(true);
        }
      })().catch(() => undefined);
      for (const l of connectedListeners.splice(0)) l(b);
    })
    .catch((err: unknown) => {
      if (!closed) log.error({ err: (err as Error).message }, 'nats connection attempts ended');
    });

  return {
    get bus() {
      return bus;
    },
    get up() {
      return up;
    },
    onConnected(listener) {
      if (bus) listener(bus);
      else connectedListeners.push(listener);
    },
    onUpChange(listener) {
      upListeners.push(listener);
    },
    async close() {
      closed = true;
      abort.abort();
      await ready;
      setUp(false);
      await bus?.close();
    },
  };
}
