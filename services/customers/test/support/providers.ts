/**
 * Test side of the providers: how each signs a webhook (as the provider's own docs describe it), and local HTTP
 * servers that speak the pull APIs' wire formats (Zendesk incremental ticket export, Stripe events list), with
 * switches for failures (5xx, 429 + Retry-After) and a log of the requests they saw.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const signStripe = (secret: string, body: string, t = Math.floor(Date.now() / 1000)) =>
  `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;

export const signZendesk = (secret: string, body: string, ts = new Date().toISOString()) => ({
  'x-zendesk-webhook-signature': createHmac('sha256', secret).update(ts + body).digest('base64'),
  'x-zendesk-webhook-signature-timestamp': ts,
});

export const signIntercom = (secret: string, body: string) => ({ 'x-hub-signature': `sha1=${createHmac('sha1', secret).update(body).digest('hex')}` });

export const signSegment = (secret: string, body: string) => ({ 'x-signature': createHmac('sha1', secret).update(body).digest('hex') });

export const signMixpanel = (secret: string, body: string, ts = Math.floor(Date.now() / 1000)) => ({
  'x-mixpanel-timestamp': String(ts),
  'x-mixpanel-signature': `sha256=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`,
});

export const stripeInvoiceFailed = (id: string, email: string, amountDue = 4200, created = Math.floor(Date.now() / 1000)) => ({
  id,
  object: 'event',
  type: 'invoice.payment_failed',
  created,
  data: { object: { id: `in_${id.slice(4)}`, object: 'invoice', customer: 'cus_1', customer_email: email, amount_due: amountDue, currency: 'usd', metadata: {} } },
});

export interface FakeProvider {
  url: string;
  requests: Array<{ path: string; query: URLSearchParams; authorization: string | undefined }>;
  /** Answer the next requests with this status (and Retry-After) instead of the data; null: normal answers. */
  failWith: { status: number; retryAfter?: string } | null;
  /** Fail only requests whose query has this cursor (a provider that breaks in the middle of a sync). */
  failCursor: string | null;
  close(): Promise<void>;
}

async function serve(handler: (req: IncomingMessage, url: URL) => { status: number; body: unknown; headers?: Record<string, string> }, fake: Omit<FakeProvider, 'url' | 'close'>): Promise<FakeProvider> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    fake.requests.push({ path: url.pathname, query: url.searchParams, authorization: req.headers.authorization });
    const failing = fake.failWith && (fake.failCursor === null || url.searchParams.get('cursor') === fake.failCursor);
    const answer = failing
      ? { status: fake.failWith!.status, body: { error: 'failing on purpose' }, headers: fake.failWith!.retryAfter ? { 'retry-after': fake.failWith!.retryAfter } : {} }
      : handler(req, url);
    res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
    res.end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const out = fake as FakeProvider;
  out.url = `http://127.0.0.1:${port}`;
  out.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return out;
}

export interface ZendeskTicket {
  id: number;
  priority: 'low' | 'normal' | 'high' | 'urgent' | null;
  requester_id: number;
  created_at: string;
  status: string;
}

/**
 * Zendesk's cursor-based incremental ticket export: `GET /api/v2/incremental/tickets/cursor.json` with `start_time`
 * (first page) or `cursor`; pages of `perPage` tickets, `after_cursor`, `end_of_stream`, sideloaded `users`.
 * Requires `Authorization: Basic base64(email/token:apiToken)`.
 */
export function fakeZendesk(opts: { tickets: ZendeskTicket[]; users: Array<{ id: number; email: string }>; perPage: number; email: string; token: string }) {
  const expected = `Basic ${Buffer.from(`${opts.email}/token:${opts.token}`).toString('base64')}`;
  return serve(
    (req, url) => {
      if (url.pathname !== '/api/v2/incremental/tickets/cursor.json') return { status: 404, body: { error: 'InvalidEndpoint' } };
      if (req.headers.authorization !== expected) return { status: 401, body: { error: "Couldn't authenticate you" } };
      const cursor = url.searchParams.get('cursor');
      const start = cursor ? Number(Buffer.from(cursor, 'base64url').toString()) : 0;
      if (!cursor && !url.searchParams.get('start_time')) return { status: 400, body: { error: 'start_time or cursor required' } };
      const page = opts.tickets.slice(start, start + opts.perPage);
      const next = Math.min(start + opts.perPage, opts.tickets.length);
      const users = opts.users.filter((u) => page.some((t) => t.requester_id === u.id));
      return {
        status: 200,
        body: {
          tickets: page,
          users: url.searchParams.get('include') === 'users' ? users : undefined,
          after_cursor: Buffer.from(String(next)).toString('base64url'),
          after_url: null,
          end_of_stream: next >= opts.tickets.length,
        },
      };
    },
    { requests: [], failWith: null, failCursor: null },
  );
}

/**
 * Stripe's `GET /v1/events` (newest first): `limit`, `starting_after` (older than), `ending_before` (the page just
 * newer than), `type`, `created[gte]`; `has_more`. Requires `Authorization: Bearer <token>`.
 */
export function fakeStripe(opts: { events: Array<ReturnType<typeof stripeInvoiceFailed>>; token: string; pageSize?: number }) {
  return serve(
    (req, url) => {
      if (url.pathname !== '/v1/events') return { status: 404, body: { error: { type: 'invalid_request_error' } } };
      if (req.headers.authorization !== `Bearer ${opts.token}`) return { status: 401, body: { error: { type: 'invalid_request_error', message: 'Invalid API Key' } } };
      const limit = Math.min(Number(url.searchParams.get('limit') ?? 10), opts.pageSize ?? 100);
      const gte = Number(url.searchParams.get('created[gte]') ?? 0);
      const type = url.searchParams.get('type');
      // newest first (created desc; the array order breaks ties: later in the array = newer)
      const all = opts.events
        .map((e, i) => ({ e, i }))
        .filter(({ e }) => (!type || e.type === type) && e.created >= gte)
        .sort((a, b) => b.e.created - a.e.created || b.i - a.i)
        .map(({ e }) => e);
      const after = url.searchParams.get('starting_after');
      const before = url.searchParams.get('ending_before');
      let page: typeof all;
      let hasMore: boolean;
      if (before) {
        const idx = all.findIndex((e) => e.id === before);
        const from = Math.max(0, (idx < 0 ? all.length : idx) - limit);
        page = all.slice(from, idx < 0 ? all.length : idx);
        hasMore = from > 0;
      } else {
        const idx = after ? all.findIndex((e) => e.id === after) + 1 : 0;
        page = all.slice(idx, idx + limit);
        hasMore = idx + limit < all.length;
      }
      return { status: 200, body: { object: 'list', url: '/v1/events', data: page, has_more: hasMore } };
    },
    { requests: [], failWith: null, failCursor: null },
  );
}
