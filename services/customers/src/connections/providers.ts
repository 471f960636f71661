/**
 * Per-provider webhook signature schemes and payload mappings (pure: no I/O, the clock is an argument).
 *
 * | provider         | signature                                                                                  | replay window on            |
 * |------------------|--------------------------------------------------------------------------------------------|-----------------------------|
 * | BILLING_STRIPE   | `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` (several v1 ok)    | t (header)                  |
 * | SUPPORT_ZENDESK  | `X-Zendesk-Webhook-Signature: base64 HMAC-SHA256(secret, timestamp + body)`, timestamp in    | the timestamp header        |
 * |                  | `X-Zendesk-Webhook-Signature-Timestamp`                                                     |                             |
 * | SUPPORT_INTERCOM | `X-Hub-Signature: sha1=<hex HMAC-SHA1(secret, body)>`                                        | `created_at` of the body    |
 * | USAGE_SEGMENT    | `X-Signature: <hex HMAC-SHA1(secret, body)>`                                                 | `sentAt`/`timestamp` (body) |
 * | USAGE_MIXPANEL   | `X-Mixpanel-Timestamp: <unix>`, `X-Mixpanel-Signature: sha256=<hex HMAC-SHA256(secret,       | the timestamp header        |
 * |                  | "<timestamp>.<body>")>` (Mixpanel-shaped: defined here, Mixpanel signs nothing itself)       |                             |
 *
 * Every comparison is timing-safe (crypto.timingSafeEqual over equal-length digests). Providers that sign no timestamp
 * get their replay window from the signed body; redeliveries inside any window are caught by the event id.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ConnectionProvider, SignalKind } from '@cos/events';

export type RejectCode = 'MISSING_SIGNATURE' | 'INVALID_SIGNATURE' | 'TIMESTAMP_OUT_OF_TOLERANCE' | 'MALFORMED_PAYLOAD';
export type Verdict = { ok: true } | { ok: false; code: RejectCode; message: string };

export interface VerifyOptions {
  now: Date;
  /** Largest |now - signed timestamp| accepted for a timestamp the provider signs in a header (seconds). */
  toleranceS: number;
  /** The same for a timestamp inside the (signed) body, for providers that sign none in a header (seconds). */
  bodyToleranceS: number;
}

type Headers = { get(name: string): string | null };

const hmac = (alg: 'sha256' | 'sha1', secret: string, data: Buffer | string) => createHmac(alg, secret).update(data).digest();

/** Timing-safe comparison of a computed digest with a presented one (hex or base64), false on any shape mismatch. */
function sameDigest(expected: Buffer, presented: string, encoding: 'hex' | 'base64'): boolean {
  if (encoding === 'hex' && !/^[0-9a-fA-F]+$/.test(presented)) return false;
  const got = Buffer.from(presented, encoding);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

const reject = (code: RejectCode, message: string): Verdict => ({ ok: false, code, message });

function withinWindow(tsMs: number, opts: VerifyOptions, toleranceS: number): boolean {
  return Number.isFinite(tsMs) && Math.abs(opts.now.getTime() - tsMs) <= toleranceS * 1000;
}

/** Verifies the delivery's signature (and the replay window) for `provider`. */
export function verifySignature(provider: ConnectionProvider, headers: Headers, body: Buffer, secret: string, opts: VerifyOptions): Verdict {
  switch (provider) {
    case 'BILLING_STRIPE': {
      const header = headers.get('stripe-signature');
      if (!header) return reject('MISSING_SIGNATURE', 'Stripe-Signature header missing');
      let t: string | null = null;
      const v1: string[] = [];
      for (const part of header.split(',')) {
        const [k, v] = part.trim().split('=', 2);
        if (k === 't' && v) t = v;
        else if (k === 'v1' && v) v1.push(v);
      }
      if (!t || !/^\d{1,12}$/.test(t) || v1.length === 0) return reject('MISSING_SIGNATURE', 'Stripe-Signature needs t= and v1=');
      const expected = hmac('sha256', secret, Buffer.concat([Buffer.from(`${t}.`), body]));
      if (!v1.some((s) => sameDigest(expected, s, 'hex'))) return reject('INVALID_SIGNATURE', 'No v1 signature matches the payload');
      if (!withinWindow(Number(t) * 1000, opts, opts.toleranceS)) return reject('TIMESTAMP_OUT_OF_TOLERANCE', 'Signature timestamp outside the tolerance window');
      return { ok: true };
    }
    case 'SUPPORT_ZENDESK': {
      const sig = headers.get('x-zendesk-webhook-signature');
      const ts = headers.get('x-zendesk-webhook-signature-timestamp');
      if (!sig || !ts) return reject('MISSING_SIGNATURE', 'X-Zendesk-Webhook-Signature and -Timestamp headers needed');
      const expected = hmac('sha256', secret, Buffer.concat([Buffer.from(ts), body]));
      if (!sameDigest(expected, sig, 'base64')) return reject('INVALID_SIGNATURE', 'Signature does not match the payload');
      if (!withinWindow(Date.parse(ts), opts, opts.toleranceS)) return reject('TIMESTAMP_OUT_OF_TOLERANCE', 'Signature timestamp outside the tolerance window');
      return { ok: true };
    }
    case 'SUPPORT_INTERCOM': {
      const header = headers.get('x-hub-signature');
      if (!header?.startsWith('sha1=')) return reject('MISSING_SIGNATURE', 'X-Hub-Signature (sha1=...) header missing');
      if (!sameDigest(hmac('sha1', secret, body), header.slice(5), 'hex')) return reject('INVALID_SIGNATURE', 'Signature does not match the payload');
      return bodyTimestamp(body, (j) => (typeof j.created_at === 'number' ? j.created_at * 1000 : NaN), opts);
    }
    case 'USAGE_SEGMENT': {
      const header = headers.get('x-signature');
      if (!header) return reject('MISSING_SIGNATURE', 'X-Signature header missing');
      if (!sameDigest(hmac('sha1', secret, body), header, 'hex')) return reject('INVALID_SIGNATURE', 'Signature does not match the payload');
      return bodyTimestamp(body, (j) => Date.parse(String(j.sentAt ?? j.timestamp ?? '')), opts);
    }
    case 'USAGE_MIXPANEL': {
      const header = headers.get('x-mixpanel-signature');
      const ts = headers.get('x-mixpanel-timestamp');
      if (!header?.startsWith('sha256=') || !ts || !/^\d{1,12}$/.test(ts)) {
        return reject('MISSING_SIGNATURE', 'X-Mixpanel-Signature (sha256=...) and X-Mixpanel-Timestamp headers needed');
      }
      const expected = hmac('sha256', secret, Buffer.concat([Buffer.from(`${ts}.`), body]));
      if (!sameDigest(expected, header.slice(7), 'hex')) return reject('INVALID_SIGNATURE', 'Signature does not match the payload');
      if (!withinWindow(Number(ts) * 1000, opts, opts.toleranceS)) return reject('TIMESTAMP_OUT_OF_TOLERANCE', 'Signature timestamp outside the tolerance window');
      return { ok: true };
    }
  }
}

function bodyTimestamp(body: Buffer, pick: (j: Record<string, unknown>) => number, opts: VerifyOptions): Verdict {
  const json = parseJson(body);
  if (!json) return reject('MALFORMED_PAYLOAD', 'The body is not a JSON object');
  if (!withinWindow(pick(json), opts, opts.bodyToleranceS)) return reject('TIMESTAMP_OUT_OF_TOLERANCE', 'Event timestamp outside the tolerance window');
  return { ok: true };
}

export function parseJson(body: Buffer): Record<string, unknown> | null {
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

// ---------- payload → signal ----------

/** Who the event is about: an explicit customer id, or an email whose domain names the customer. */
export interface CustomerRef {
  customerId: string | null;
  email: string | null;
}

/** One provider event mapped: its id (idempotency key), the customer, and the signal (null: nothing to record). */
export type Mapped =
  | { ok: true; externalId: string; occurredAt: string; customer: CustomerRef; signal: { kind: SignalKind; value: number; note: string } | null; ignoreReason?: string }
  | { ok: false; message: string };

const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : null);
const iso = (v: unknown, fallback: Date): string => {
  if (typeof v === 'number' && Number.isFinite(v)) return new Date(v < 1e12 ? v * 1000 : v).toISOString();
  if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) return new Date(Date.parse(v)).toISOString();
  return fallback.toISOString();
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const customerIdOf = (v: unknown) => (typeof v === 'string' && UUID.test(v) ? v.toLowerCase() : null);
const MAX_ID = 200;

/** Zendesk ticket priority → SUPPORT_TICKET severity (1..4); unset priority counts as normal. */
export function severityOf(priority: unknown): number {
  switch (String(priority ?? '').toLowerCase()) {
    case 'urgent':
      return 4;
    case 'high':
      return 3;
    case 'low':
      return 1;
    default:
      return 2;
  }
}

/** A Zendesk ticket (webhook `detail` or incremental export row) → the "ticket opened" signal. */
export function mapZendeskTicket(ticket: Record<string, unknown>, requesterEmail: string | null, now: Date): Mapped {
  const id = str(ticket.id);
  if (!id || id.length > 50) return { ok: false, message: 'ticket id missing' };
  const severity = severityOf(ticket.priority);
  return {
    ok: true,
    // The same key for the webhook and the pull, so a ticket seen both ways counts once.
    externalId: `ticket:${id}:created`,
    occurredAt: iso(ticket.created_at, now),
    customer: { customerId: customerIdOf(obj(ticket.custom_fields_map).cos_customer_id), email: requesterEmail },
    signal: { kind: 'SUPPORT_TICKET', value: severity, note: `Zendesk ticket #${id} (${String(ticket.priority ?? 'normal').toLowerCase()})` },
  };
}

/** A Stripe event (webhook body or /v1/events item). */
export function mapStripeEvent(e: Record<string, unknown>, now: Date): Mapped {
  const id = str(e.id);
  if (!id || id.length > MAX_ID || typeof e.type !== 'string') return { ok: false, message: 'event id or type missing' };
  const inv = obj(obj(e.data).object);
  const customer = { customerId: customerIdOf(obj(inv.metadata).cos_customer_id), email: str(inv.customer_email) };
  const occurredAt = iso(e.created, now);
  if (e.type !== 'invoice.payment_failed') return { ok: true, externalId: id, occurredAt, customer, signal: null, ignoreReason: 'unsupported_event_type' };
  const amount = typeof inv.amount_due === 'number' && inv.amount_due >= 0 ? inv.amount_due / 100 : 0;
  return {
    ok: true,
    externalId: id,
    occurredAt,
    customer,
    signal: { kind: 'PAYMENT_FAILED', value: amount, note: `Stripe invoice ${str(inv.id) ?? ''} payment failed (${String(inv.currency ?? '').toUpperCase()})`.trim() },
  };
}

/** A product event name + properties (Segment track, Mixpanel) → usage or login signal. */
function productSignal(event: string, props: Record<string, unknown>): { kind: SignalKind; value: number; note: string } | null {
  const name = event.toLowerCase();
  if (name === 'signed in' || name === 'logged in' || name === 'login') return { kind: 'LOGIN', value: 1, note: `${event}` };
  if (name === 'usage reported' || name === 'seats active') {
    const active = Number(props.active_seats);
    const seats = Number(props.seats);
    if (!Number.isFinite(active) || !Number.isFinite(seats) || seats <= 0 || active < 0) return null;
    return { kind: 'PRODUCT_USAGE', value: Math.min(1, active / seats), note: `${active}/${seats} seats active` };
  }
  return null;
}

/** Maps a verified webhook body of `provider`. */
export function mapWebhook(provider: ConnectionProvider, json: Record<string, unknown>, now: Date): Mapped {
  switch (provider) {
    case 'BILLING_STRIPE':
      return mapStripeEvent(json, now);
    case 'SUPPORT_ZENDESK': {
      const id = str(json.id);
      const type = str(json.type);
      if (!id || !type) return { ok: false, message: 'id and type are required' };
      const detail = obj(json.detail);
      if (type === 'zen:event-type:ticket.created') {
        return mapZendeskTicket({ ...detail, created_at: detail.created_at ?? json.time }, str(detail.requester_email), now);
      }
      return { ok: true, externalId: id.slice(0, MAX_ID), occurredAt: iso(json.time, now), customer: { customerId: null, email: str(detail.requester_email) }, signal: null, ignoreReason: 'no_signal_for_event_type' };
    }
    case 'SUPPORT_INTERCOM': {
      const id = str(json.id);
      const topic = str(json.topic);
      if (!id || !topic) return { ok: false, message: 'id and topic are required' };
      const item = obj(obj(json.data).item);
      const email = str(obj(obj(item.source).author).email);
      const occurredAt = iso(item.created_at ?? json.created_at, now);
      if (topic !== 'conversation.user.created') return { ok: true, externalId: id.slice(0, MAX_ID), occurredAt, customer: { customerId: null, email }, signal: null, ignoreReason: 'no_signal_for_event_type' };
      const convId = str(item.id);
      if (!convId || convId.length > 50) return { ok: false, message: 'data.item.id is required' };
      const severity = item.priority === 'priority' ? 3 : 2;
      return {
        ok: true,
        externalId: `conversation:${convId}:created`,
        occurredAt,
        customer: { customerId: customerIdOf(obj(item.custom_attributes).cos_customer_id), email },
        signal: { kind: 'SUPPORT_TICKET', value: severity, note: `Intercom conversation ${convId}${severity === 3 ? ' (priority)' : ''}` },
      };
    }
    case 'USAGE_SEGMENT': {
      const id = str(json.messageId);
      if (!id || id.length > MAX_ID) return { ok: false, message: 'messageId is required' };
      const props = obj(json.properties);
      const traits = obj(json.traits ?? obj(json.context).traits);
      const customer = { customerId: customerIdOf(props.cos_customer_id ?? traits.cos_customer_id), email: str(traits.email) };
      const occurredAt = iso(json.timestamp, now);
      const signal = json.type === 'track' && typeof json.event === 'string' ? productSignal(json.event, props) : null;
      return { ok: true, externalId: id, occurredAt, customer, signal, ...(signal ? {} : { ignoreReason: 'no_signal_for_event' }) };
    }
    case 'USAGE_MIXPANEL': {
      const props = obj(json.properties);
      const id = str(props.$insert_id);
      if (!id || id.length > MAX_ID || typeof json.event !== 'string') return { ok: false, message: 'event and properties.$insert_id are required' };
      const customer = { customerId: customerIdOf(props.cos_customer_id), email: str(props.$email) };
      const signal = productSignal(json.event, props);
      return { ok: true, externalId: id, occurredAt: iso(props.time, now), customer, signal, ...(signal ? {} : { ignoreReason: 'no_signal_for_event' }) };
    }
  }
}

/** The lower-case domain of an email address, or null. */
export function domainOf(email: string | null): string | null {
  if (!email) return null;
  const at = email.lastIndexOf('@');
  if (at < 1) return null;
  const d = email.slice(at + 1).trim().toLowerCase();
  return d.length > 0 && d.length <= 253 ? d : null;
}
