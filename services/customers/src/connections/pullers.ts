/**
 * Provider pull APIs in their wire formats: one page per call, from a cursor, to the next cursor.
 *
 * - Zendesk: `GET /api/v2/incremental/tickets/cursor.json?start_time=<unix>|cursor=<after_cursor>&include=users`
 *   (cursor-based incremental export; basic auth `<email>/token:<apiToken>`); a ticket is the "ticket opened" signal,
 *   keyed like the webhook (`ticket:<id>:created`), requester emails from the sideloaded users.
 * - Stripe: `GET /v1/events?type=invoice.payment_failed&limit=N` (Bearer token). Lists are newest first: the first sync
 *   walks back with `starting_after` (a backfill window), later syncs walk forward with `ending_before=<newest seen>`.
 *   Keyed by the event id, like the webhook.
 */
import type { ConnectionProvider } from '@cos/events';
import { request } from 'undici';
import { mapStripeEvent, mapZendeskTicket, type Mapped } from './providers';

export interface PullCredentials {
  baseUrl: string;
  email: string | null;
  apiToken: string;
}

export interface PullPage {
  items: Mapped[];
  cursor: string;
  /** Nothing more to fetch now. */
  done: boolean;
}

/** The provider answered 429: wait `retryAfterMs` before the next call. */
export class RateLimitedError extends Error {
  constructor(readonly retryAfterMs: number) {
    super(`rate limited by the provider: retry after ${Math.round(retryAfterMs / 1000)} s`);
  }
}

/** The provider answered an HTTP error (5xx: transient; 4xx: the request or the credentials are wrong). */
export class ProviderHttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
  get transient() {
    return this.status >= 500 || this.status === 408;
  }
}

/** Retry-After as seconds or an HTTP date → ms (bounded to a day; absent → 60 s). */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return 60_000;
  const ms = /^\d+$/.test(v.trim()) ? Number(v.trim()) * 1000 : Date.parse(v) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), 86_400_000) : 60_000;
}

/** Largest provider answer read (bytes): a page is far below it. */
const MAX_RESPONSE_BYTES = 10_000_000;

async function getJson(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<Record<string, unknown>> {
  const res = await request(url, { method: 'GET', headers: { accept: 'application/json', ...headers }, signal });
  if (res.statusCode === 429) {
    await res.body.dump();
    throw new RateLimitedError(retryAfterMs(res.headers['retry-after']));
  }
  if (res.statusCode >= 400) {
    await res.body.dump();
    throw new ProviderHttpError(res.statusCode, `provider answered HTTP ${res.statusCode}`);
  }
  const length = Number(res.headers['content-length'] ?? 0);
  if (length > MAX_RESPONSE_BYTES) {
    await res.body.dump();
    throw new ProviderHttpError(502, 'provider answer too large');
  }
  const text = await res.body.text();
  if (text.length > MAX_RESPONSE_BYTES) throw new ProviderHttpError(502, 'provider answer too large');
  try {
    const json = JSON.parse(text) as unknown;
    if (json && typeof json === 'object' && !Array.isArray(json)) return json as Record<string, unknown>;
  } catch {
    /* below */
  }
  throw new ProviderHttpError(502, 'provider answered something other than a JSON object');
}

const base = (u: string) => u.replace(/\/+$/, '');
const arr = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => !!x && typeof x === 'object') : []);

/** How far back a first sync looks. */
export const BACKFILL_DAYS = 30;
const PAGE_SIZE = 100;

async function zendeskPage(c: PullCredentials, cursor: string | null, now: Date, signal: AbortSignal): Promise<PullPage> {
  const q = new URLSearchParams({ include: 'users', per_page: String(PAGE_SIZE) });
  const since = now.getTime() - BACKFILL_DAYS * 86_400_000;
  if (cursor) q.set('cursor', cursor);
  else q.set('start_time', String(Math.floor(since / 1000)));
  const auth = Buffer.from(`${c.email ?? ''}/token:${c.apiToken}`).toString('base64');
  const json = await getJson(`${base(c.baseUrl)}/api/v2/incremental/tickets/cursor.json?${q}`, { authorization: `Basic ${auth}` }, signal);
  const emails = new Map(arr(json.users).map((u) => [String(u.id), typeof u.email === 'string' ? u.email : null]));
  const items = arr(json.tickets)
    // The export also returns tickets updated in the window; only those opened in it are new signals.
    .filter((t) => Date.parse(String(t.created_at ?? '')) >= since)
    .map((t) => mapZendeskTicket(t, emails.get(String(t.requester_id)) ?? null, now));
  const after = typeof json.after_cursor === 'string' && json.after_cursor ? json.after_cursor : cursor;
  if (!after) throw new ProviderHttpError(502, 'Zendesk answered without after_cursor');
  return { items, cursor: after, done: json.end_of_stream === true };
}

type StripeCursor = { newest: string } | { backfill: { after: string | null; newest: string | null; since: number } };

async function stripePage(c: PullCredentials, rawCursor: string | null, now: Date, signal: AbortSignal): Promise<PullPage> {
  let cursor: StripeCursor;
  try {
    cursor = rawCursor ? (JSON.parse(rawCursor) as StripeCursor) : { backfill: { after: null, newest: null, since: Math.floor(now.getTime() / 1000) - BACKFILL_DAYS * 86_400 } };
  } catch {
    cursor = { backfill: { after: null, newest: null, since: Math.floor(now.getTime() / 1000) - BACKFILL_DAYS * 86_400 } };
  }
  const q = new URLSearchParams({ type: 'invoice.payment_failed', limit: String(PAGE_SIZE) });
  if ('newest' in cursor) q.set('ending_before', cursor.newest);
  else {
    q.set('created[gte]', String(cursor.backfill.since));
    if (cursor.backfill.after) q.set('starting_after', cursor.backfill.after);
  }
  const json = await getJson(`${base(c.baseUrl)}/v1/events?${q}`, { authorization: `Bearer ${c.apiToken}` }, signal);
  const data = arr(json.data);
  const hasMore = json.has_more === true;
  const items = data.map((e) => mapStripeEvent(e, now));
  const first = typeof data[0]?.id === 'string' ? (data[0].id as string) : null;
  const last = typeof data.at(-1)?.id === 'string' ? (data.at(-1)!.id as string) : null;
  let next: StripeCursor;
  if ('newest' in cursor) next = { newest: first ?? cursor.newest };
  else {
    const newest = cursor.backfill.newest ?? first;
    next = hasMore && last ? { backfill: { ...cursor.backfill, after: last, newest } } : newest ? { newest } : cursor;
  }
  return { items, cursor: JSON.stringify(next), done: !hasMore };
}

export type Puller = (c: PullCredentials, cursor: string | null, now: Date, signal: AbortSignal) => Promise<PullPage>;

export const PULLERS: Partial<Record<ConnectionProvider, Puller>> = {
  SUPPORT_ZENDESK: zendeskPage,
  BILLING_STRIPE: stripePage,
};
