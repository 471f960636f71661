import { createSchema, createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { createLogger } from '@cos/logger';
import { useUnsubscribeProxy } from '../src/transport/useUnsubscribeProxy';

type Sent = { url: string; method: string; headers: Record<string, string>; body?: Uint8Array };

function proxy(opts: { fail?: boolean; identityUrl?: string | undefined } = {}) {
  const sent: Sent[] = [];
  const yoga = createYoga({
    schema: createSchema({ typeDefs: 'type Query { ok: Boolean }' }),
    logging: false,
    plugins: [
      useUnsubscribeProxy({
        identityUrl: () => ('identityUrl' in opts ? opts.identityUrl : 'http://identity.internal:4001/graphql'),
        fetcher: async (url, init) => {
          sent.push({ url, ...init });
          if (opts.fail) throw new Error('connect ECONNREFUSED');
          return { status: 400, headers: new Headers({ 'content-type': 'application/json' }), text: async () => '{"error":{"code":"INVALID_UNSUBSCRIBE_TOKEN"}}' };
        },
        log: createLogger('unsubscribe-proxy-test', 'silent'),
      }),
    ],
  });
  return { yoga, sent };
}

describe('useUnsubscribeProxy', () => {
  it('forwards a one-click POST to identity with the token only (no credentials, no other parameter) and answers as identity did', async () => {
    const { yoga, sent } = proxy();
    const res = await yoga.fetch('http://gw/unsubscribe?token=abc.def&next=http://evil', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Bearer x', cookie: 'a=1', 'x-cos-principal': 'forged' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { code: 'INVALID_UNSUBSCRIBE_TOKEN' } });
    expect(sent).toHaveLength(1);
    expect(sent[0]!.url).toBe('http://identity.internal:4001/unsubscribe?token=abc.def');
    expect(sent[0]!.method).toBe('POST');
    expect(sent[0]!.headers).toEqual({ 'content-type': 'application/x-www-form-urlencoded' });
    expect(Buffer.from(sent[0]!.body!).toString()).toBe('List-Unsubscribe=One-Click');
  });

  it('refuses other methods and big bodies, and answers 503 when identity is unknown or unreachable', async () => {
    expect((await proxy().yoga.fetch('http://gw/unsubscribe?token=a', { method: 'PUT' })).status).toBe(405);
    expect((await proxy().yoga.fetch('http://gw/unsubscribe?token=a', { method: 'POST', body: 'x'.repeat(5_000) })).status).toBe(413);
    const down = await proxy({ fail: true }).yoga.fetch('http://gw/unsubscribe?token=a');
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('30');
    expect((await proxy({ identityUrl: undefined }).yoga.fetch('http://gw/unsubscribe?token=a')).status).toBe(503);
  });
});
