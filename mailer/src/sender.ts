/**
 * The mail sender: leases due rows of the mail outbox (FOR UPDATE SKIP LOCKED, so any number of mailer instances
 * share the queue), sends each outside the transaction, then marks it SENT, schedules a retry with exponential
 * backoff and jitter, or marks it DEAD after `maxAttempts` (`pnpm dlq mail list|retry`).
 */
import pg from 'pg';
import type { Db } from '@cos/db';
import type { Logger } from '@cos/logger';
import { leaseDueMails, MAIL_CHANNEL, markDead, markRetry, markSent, markSkipped, resolveMail, type MailLinks, type MailRow } from './store';
import type { MailTransport } from './transport';
import type { MailerMetrics } from './metrics';

export interface SenderOptions {
  db: Db;
  transport: MailTransport;
  from: string;
  links: MailLinks;
  log: Logger;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  pollMs: number;
  leaseMs: number;
  /** Connection for LISTEN (wakes the sender as soon as a mail is queued); polling alone without it. */
  listenUrl?: string;
  batchSize?: number;
  metrics?: MailerMetrics;
}

/** Delay before attempt n+1 after n failed ones: base·2^(n-1), ±20% jitter, capped. */
export function retryDelayMs(failedAttempts: number, baseMs: number, maxMs: number, random = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, failedAttempts - 1));
  return Math.round(Math.min(maxMs, exp * (0.8 + 0.4 * random())));
}

export interface Sender {
  /** Sends every due mail now (tests, CLI); returns how many were attempted. */
  drain(): Promise<number>;
  stop(): Promise<void>;
}

export function startSender(opts: SenderOptions): Sender {
  const batch = opts.batchSize ?? 20;
  let stopped = false;
  let running: Promise<number> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let listener: pg.Client | null = null;

  const failed = async (m: MailRow, error: string) => {
    if (m.attempts >= opts.maxAttempts) {
      await opts.db.tx({ orgId: null }, (tx) => markDead(tx, m.id, error));
      opts.metrics?.dead.inc({ kind: m.kind });
      opts.log.error({ mailId: m.id, kind: m.kind, attempts: m.attempts, error }, 'mail dead-lettered');
    } else {
      const delay = retryDelayMs(m.attempts, opts.retryBaseMs, opts.retryMaxMs);
      await opts.db.tx({ orgId: null }, (tx) => markRetry(tx, m.id, error, delay));
      opts.metrics?.retries.inc({ kind: m.kind });
      opts.log.warn({ mailId: m.id, kind: m.kind, attempt: m.attempts, retryInMs: delay, error }, 'mail not sent; retrying');
    }
  };

  const sendOne = async (m: MailRow) => {
    const started = performance.now();
    const r = await opts.db.tx({ orgId: null }, (tx) => resolveMail(tx, opts.links, m));
    if (r.outcome === 'skip') {
      await opts.db.tx({ orgId: null }, (tx) => markSkipped(tx, m.id, r.reason));
      opts.metrics?.skipped.inc({ kind: m.kind, reason: r.reason });
      return;
    }
    if (r.outcome === 'wait') return failed(m, r.reason);
    try {
      const messageId = await opts.transport.send({ id: m.id, from: opts.from, to: r.to, subject: r.subject, text: r.text, html: r.html, headers: r.headers });
      await opts.db.tx({ orgId: null }, (tx) => markSent(tx, m.id, r.to, r.subject, messageId));
      opts.metrics?.sent.inc({ kind: m.kind });
      opts.metrics?.sendDuration.observe({ outcome: 'sent' }, (performance.now() - started) / 1000);
      opts.log.info({ mailId: m.id, kind: m.kind, attempt: m.attempts }, 'mail sent');
    } catch (err) {
      opts.metrics?.sendDuration.observe({ outcome: 'failed' }, (performance.now() - started) / 1000);
      await failed(m, (err as Error).message || String(err));
    }
  };

  const pass = async (): Promise<number> => {
    let total = 0;
    for (;;) {
      if (stopped) return total;
      const leased = await opts.db.tx({ orgId: null }, (tx) => leaseDueMails(tx, batch, opts.leaseMs));
      if (leased.length === 0) return total;
      total += leased.length;
      for (const m of leased) {
        await sendOne(m).catch((err) => opts.log.error({ err, mailId: m.id }, 'mail send step failed; the lease brings it back'));
      }
    }
  };

  const drain = (): Promise<number> => {
    if (running) return running.then(() => drain());
    running = pass().finally(() => {
      running = null;
    });
    return running;
  };

  const tick = () => {
    if (stopped) return;
    drain()
      .catch((err) => opts.log.error({ err }, 'mail sender pass failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, opts.pollMs);
      });
  };

  if (opts.listenUrl) {
    const c = new pg.Client({ connectionString: opts.listenUrl, connectionTimeoutMillis: 5_000 });
    listener = c;
    c.on('error', (err) => opts.log.warn({ err }, 'mail LISTEN connection failed; polling'));
    c.on('notification', () => {
      if (!stopped && !running) void drain().catch((err) => opts.log.error({ err }, 'mail sender pass failed'));
    });
    c.connect()
      .then(() => c.query(`LISTEN ${MAIL_CHANNEL}`))
      .catch((err) => opts.log.warn({ err }, 'mail LISTEN unavailable; polling'));
  }
  timer = setTimeout(tick, 0);

  return {
    drain,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => undefined);
      await listener?.end().catch(() => undefined);
      opts.transport.close();
    },
  };
}
