import { createSchema, createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { createLogger } from '@cos/logger';
import { useWebhookProxy } from '../src/transport/useWebhookProxy';

type Sent = { url: string; headers: Record<string, string>; body: Uint8Array };

function proxy(opts: { answer?: (s: Sent) => { status: number; body: string }; fail?: boolean; customersUrl?: string | undefined } = {}) {
  const sent: Sent[] = [];
  const yoga = createYoga({
    schema: createSchema({ typeDefs: 'type Query { ok: Boolean }' }),
    logging: false,
    plugins: [
      useWebhookProxy({
        customersUrl: () => ('customersUrl' in opts ? opts.customersUrl : 'http://customers.internal:4003/graphql'),
        fetcher: async (url, init) => {
          const s = { url, headers: init.headers, body: init.body };
          sent.push(s);
          if (opts.fail) throw new Error('connect ECONNREFUSED');
          const a = opts.answer?.(s) ?? { status: 200, body: '{"status":"accepted"}' };
          return { status: a.status, text: async () => a.body };
        },
        maxBodyBytes: 1024,
        clientIp: () => undefined,
        log: createLogger('webhook-proxy-test', 'silent'),
      }),
    ],
  });
  return { yoga, sent };
}

describe('useWebhookProxy', () => {
  it('forwards the raw body bytes and only the provider headers to the customers subgraph, without the query string', async () => {
    const { yoga, sent } = proxy();
    const body = '{"id":"evt_1",  "amount": 1.50}\n';
    const res = await yoga.fetch('http://gw/webhooks/stripe/11111111-1111-4111-8111-111111111111?target=http://evil', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=ab', authorization: 'Bearer user-token', cookie: 'session=1', 'x-cos-principal': 'forged' },
      body,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'accepted' });
    expect(sent).toHaveLength(1);
    expect(sent[0]!.url).toBe('http://customers.internal:4003/webhooks/stripe/11111111-1111-4111-8111-111111111111');
    expect(Buffer.from(sent[0]!.body).toString()).toBe(body);
    expect(Object.keys(sent[0]!.headers).sort()).toEqual(['content-type', 'stripe-signature', 'x-request-id']);
  });

  it('passes the subgraph refusal through (status and JSON)', async () => {
    const { yoga } = proxy({ answer: () => ({ status: 401, body: '{"error":{"code":"INVALID_SIGNATURE","message":"x"}}' }) });
    const res = await yoga.fetch('http://gw/webhooks/zendesk/x', { method: 'POST', body: '{}' });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: 'INVALID_SIGNATURE' } });
  });

  it('refuses other methods and oversized bodies before forwarding anything', async () => {
    const { yoga, sent } = proxy();
    const get = await yoga.fetch('http://gw/webhooks/stripe/x', { method: 'GET' });
    expect(get.status).toBe(405);
    const big = await yoga.fetch('http://gw/webhooks/stripe/x', { method: 'POST', body: 'x'.repeat(2048) });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    // chunked (no Content-Length): counted while reading
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(new TextEncoder().encode('y'.repeat(400)));
        c.close();
      },
    });
    const chunked = await yoga.fetch('http://gw/webhooks/stripe/x', { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(sent).toHaveLength(0);
  });

  it('an unreachable subgraph is a 502 (the provider retries); no supergraph yet is a 503', async () => {
    const down = await proxy({ fail: true }).yoga.fetch('http://gw/webhooks/stripe/x', { method: 'POST', body: '{}' });
    expect(down.status).toBe(502);
    expect(await down.json()).toMatchObject({ error: { code: 'UPSTREAM_UNAVAILABLE' } });
    const none = await proxy({ customersUrl: undefined }).yoga.fetch('http://gw/webhooks/stripe/x', { method: 'POST', body: '{}' });
    expect(none.status).toBe(503);
  });

  it('leaves other paths alone', async () => {
    const { yoga, sent } = proxy();
    const res = await yoga.fetch('http://gw/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
    expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
    expect(sent).toHaveLength(0);
  });
});
