/**
 * A small HTTP load balancer for tests and drills that run several instances of one process, standing in for what a
 * Kubernetes Service (or any L7 balancer) does in front of replicas: round robin over the backends whose readiness
 * probe answers 200 (polled every `intervalMs`; a draining instance answers 503 and leaves the rotation), and a
 * request whose connection is REFUSED (nothing was exchanged, so nothing was applied) goes to the next backend.
 * One fresh upstream connection per request, so a backend closing idle keep-alive sockets while it drains never
 * resets a request. Counts requests per backend (which version served what).
 */
import http from 'node:http';
import net from 'node:net';

export interface Balancer {
  port: number;
  url: string;
  /** Requests answered per backend (`host:port`). */
  served: Map<string, number>;
  /** Requests that went to another backend after a refused connection. */
  retried: number;
  /** Requests answered 503 because no backend was ready. */
  unavailable: number;
  /** Requests answered 502: the upstream connection failed other than refused (reset, timeout), so no retry. */
  upstreamErrors: Array<{ at: number; backend: string; message: string }>;
  ready(): string[];
  /** Resolves when exactly `backends` are ready (bounded). */
  waitReady(backends: string[], timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startBalancer(opts: { backends: string[]; path?: string; healthPath?: string; intervalMs?: number; maxAttempts?: number }): Promise<Balancer> {
  const healthPath = opts.healthPath ?? '/readyz';
  const ready = new Set<string>();
  let next = 0;
  let closed = false;
  const probe = async () => {
    await Promise.all(
      opts.backends.map(async (b) => {
        try {
          const res = await fetch(`http://${b}${healthPath}`, { signal: AbortSignal.timeout(1_000) });
          await res.arrayBuffer();
          if (res.status === 200) ready.add(b);
          else ready.delete(b);
        } catch {
          ready.delete(b);
        }
      }),
    );
  };
  await probe();
  const timer = setInterval(() => void probe(), opts.intervalMs ?? 200);
  const lb: Balancer = {
    port: 0,
    url: '',
    served: new Map(),
    retried: 0,
    unavailable: 0,
    upstreamErrors: [],
    ready: () => [...ready],
    async waitReady(backends, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(backends.every((b) => ready.has(b)) && ready.size === backends.length)) {
        if (Date.now() > deadline) throw new Error(`balancer: ready ${[...ready].join(',')} != ${backends.join(',')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      closed = true;
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const forward = (backend: string, req: http.IncomingMessage, body: Buffer) =>
    new Promise<http.IncomingMessage>((resolve, reject) => {
      const [host, port] = backend.split(':');
      const up = http.request(
        { host, port: Number(port), method: req.method, path: req.url, headers: { ...req.headers, connection: 'close' }, agent: false, timeout: 30_000 },
        resolve,
      );
      up.on('timeout', () => up.destroy(new Error('upstream timeout')));
      up.on('error', reject);
      up.end(body);
    });
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const attempts = opts.maxAttempts ?? 4;
    for (let i = 0; i < attempts && !closed; i++) {
      const candidates = [...ready];
      if (candidates.length === 0) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const backend = candidates[next++ % candidates.length]!;
      try {
        const up = await forward(backend, req, body);
        lb.served.set(backend, (lb.served.get(backend) ?? 0) + 1);
        const { connection: _c, 'keep-alive': _k, ...headers } = up.headers;
        res.writeHead(up.statusCode ?? 502, headers);
        up.pipe(res);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== 'ECONNREFUSED') {
          lb.upstreamErrors.push({ at: Date.now(), backend, message: `${(err as { code?: string }).code ?? ''} ${(err as Error).message}`.trim() });
          res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `upstream ${backend}: ${(err as Error).message}` }));
          return;
        }
        ready.delete(backend);
        lb.retried++;
      }
    }
    lb.unavailable++;
    res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'no backend ready' }));
  });
  // WebSocket (graphql-ws): the upgrade request is replayed to a ready backend, then bytes flow both ways. When the
  // backend drains it closes the socket (1012); the client reconnects through here to another backend.
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const candidates = [...ready];
    if (candidates.length === 0) return socket.destroy();
    const backend = candidates[next++ % candidates.length]!;
    const [host, port] = backend.split(':');
    const up = net.connect({ host, port: Number(port) }, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) up.write(head);
      lb.served.set(backend, (lb.served.get(backend) ?? 0) + 1);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
    up.on('close', () => socket.destroy());
    socket.on('close', () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  lb.port = (server.address() as { port: number }).port;
  lb.url = `http://127.0.0.1:${lb.port}${opts.path ?? ''}`;
  return lb;
}
