import type { IncomingMessage } from 'node:http';
import proxyAddr from 'proxy-addr';

/** Reads the caller's address from a Node request (yoga's server context `req`); undefined for in-process calls. */
export type ClientIp = (req: IncomingMessage | undefined) => string | undefined;

/**
 * The client address that per-IP rate limits and sign-in throttling key on (proxy-addr, Express's implementation).
 *
 * With no trusted proxies (the default), it is the socket peer and `X-Forwarded-For` is ignored: any client can
 * write that header. With `TRUSTED_PROXIES` (addresses, CIDRs or `loopback` / `linklocal` / `uniquelocal`), the
 * header is read from the right, through trusted hops only: the first address not trusted is the client. An
 * address a client put at the left of the header is never reached while an untrusted hop stands to its right.
 * Behind an ingress or load balancer, without this every caller has the proxy's address and shares one bucket.
 */
export function clientIpResolver(trustedProxies: readonly string[]): ClientIp {
  if (trustedProxies.length === 0) return (req) => req?.socket?.remoteAddress ?? undefined;
  const trust = proxyAddr.compile([...trustedProxies]);
  return (req) => (req?.socket?.remoteAddress ? proxyAddr(req, trust) : undefined);
}

/** `TRUSTED_PROXIES` as a list; throws on an entry proxy-addr does not accept (the gateway must not start then). */
export function parseTrustedProxies(value: string | undefined): string[] {
  const list = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  proxyAddr.compile(list);
  return list;
}
