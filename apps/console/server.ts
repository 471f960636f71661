/**
 * The console's production server: serves the built app (dist/) and /config.json, which tells the app where the
 * gateway is (GATEWAY_URL). A process of its own, so no service carries the console.
 *   PORT=4005 GATEWAY_URL=http://localhost:4000/graphql tsx apps/console/server.ts
 * Files are looked up under dist/ only (no path escapes); unknown paths answer index.html (hash routing needs none,
 * but a bookmarked /anything still opens the app).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

export interface ConsoleServerOptions {
  port: number;
  host?: string;
  /** The gateway's GraphQL URL as the browser reaches it (http://host:port/graphql). */
  gatewayUrl: string;
  distDir?: string;
}

export async function startConsoleServer(opts: ConsoleServerOptions): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const dist = path.resolve(opts.distDir ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'dist'));
  await stat(path.join(dist, 'index.html')).catch(() => {
    throw new Error(`${dist}/index.html is missing: run pnpm console:build`);
  });
  const config = JSON.stringify({ gatewayUrl: opts.gatewayUrl });
  const csp = [
    "default-src 'self'",
    `connect-src 'self' ${new URL(opts.gatewayUrl).origin} ${new URL(opts.gatewayUrl).origin.replace(/^http/, 'ws')}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
  ].join('; ');
  const server = createServer((req, res) => {
    serve(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const headers = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'content-security-policy': csp };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, headers).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://console');
    if (url.pathname === '/config.json') {
      res.writeHead(200, { ...headers, 'content-type': 'application/json', 'cache-control': 'no-store' }).end(config);
      return;
    }
    if (url.pathname === '/healthz') {
      res.writeHead(200, { ...headers, 'content-type': 'text/plain' }).end('ok');
      return;
    }
    let pathname: string;
    try {
      pathname = decodeURIComponent(url.pathname);
    } catch {
      res.writeHead(400, headers).end();
      return;
    }
    let file = path.join(dist, path.normalize(pathname));
    if (!file.startsWith(dist + path.sep)) file = path.join(dist, 'index.html');
    let info = await stat(file).catch(() => null);
    if (!info?.isFile()) {
      file = path.join(dist, 'index.html');
      info = await stat(file);
    }
    const hashed = file.includes(`${path.sep}assets${path.sep}`);
    res.writeHead(200, {
      ...headers,
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': info.size,
      // Vite names assets by content hash: cache them for good; index.html must be revalidated.
      'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  }
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    server,
    url: `http://${opts.host ?? '127.0.0.1'}:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env.PORT ?? 4005);
  const gatewayUrl = process.env.GATEWAY_URL ?? 'http://localhost:4000/graphql';
  const s = await startConsoleServer({ port, host: process.env.HOST ?? '127.0.0.1', gatewayUrl }).catch((err: Error) => {
    console.error(err.message);
    process.exit(1);
  });
  console.log(JSON.stringify({ level: 'info', msg: 'console listening', url: s.url, gatewayUrl }));
  const stop = () =>
    void s.close().then(() => {
      console.log(JSON.stringify({ level: 'info', msg: 'stopped' }));
      process.exit(0);
    });
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
