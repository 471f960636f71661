import { createServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HEAD_APART_MIN_CHARS, HeadApartResponse } from '../src/response';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** What the response's socket was asked to write: strings and buffers in order, and the writev batches. */
interface Spied {
  writes: unknown[];
  writevs: number[];
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function serve(Response: typeof ServerResponse, handler: Handler, spied?: Spied): Promise<number> {
  server = createServer({ ServerResponse: Response }, (req, res) => {
    if (spied) {
      const socket = res.socket as Socket & { _writev: (chunks: unknown[], cb: () => void) => void };
      const write = socket.write.bind(socket) as (...a: unknown[]) => boolean;
      socket.write = ((chunk: unknown, ...rest: unknown[]) => {
        spied.writes.push(chunk);
        return write(chunk, ...rest);
      }) as typeof socket.write;
      const writev = socket._writev.bind(socket);
      socket._writev = (chunks, cb) => {
        spied.writevs.push(chunks.length);
        writev(chunks, cb);
      };
    }
    handler(req, res);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

/** Raw HTTP/1.1 exchanges on one kept-alive connection: each answer's status line, headers and body bytes. */
async function exchange(port: number, requests: string[]): Promise<{ head: string; body: Buffer }[]> {
  const socket = connect(port, '127.0.0.1');
  const answers: { head: string; body: Buffer }[] = [];
  let buffered = Buffer.alloc(0);
  const next = () =>
    new Promise<{ head: string; body: Buffer }>((resolve, reject) => {
      const tryParse = () => {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return false;
        const head = buffered.subarray(0, end).toString('latin1');
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        const bodyless = /^HEAD /.test(requests[answers.length] ?? '');
        const total = end + 4 + (bodyless ? 0 : length);
        if (buffered.length < total) return false;
        const answer = { head, body: Buffer.from(buffered.subarray(end + 4, total)) };
        buffered = buffered.subarray(total);
        resolve(answer);
        return true;
      };
      if (tryParse()) return;
      const onData = (d: Buffer) => {
        buffered = Buffer.concat([buffered, d]);
        if (tryParse()) socket.off('data', onData);
      };
      socket.on('data', onData);
      socket.once('error', reject);
    });
  for (const r of requests) {
    socket.write(r);
    answers.push(await next());
  }
  socket.destroy();
  return answers;
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nhost: test\r\n\r\n`;

// Over the threshold, with characters of one, two, three and four UTF-8 bytes.
const big = `{"data":"${'x'.repeat(HEAD_APART_MIN_CHARS)}é€😀"}`;

const writeHeadThen = (how: 'write' | 'end', body: string): Handler => (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
  if (how === 'write') {
    res.write(body);
    res.end();
  } else {
    res.end(body);
  }
};

describe('HeadApartResponse', () => {
  it('writes a large string body beside the head, in one writev, not copied into one string with it', async () => {
    const spied: Spied = { writes: [], writevs: [] };
    const port = await serve(HeadApartResponse, writeHeadThen('write', big), spied);
    const [answer] = await exchange(port, [get('/')]);
    expect(answer!.body.toString('utf8')).toBe(big);
    // The body string itself reached the socket (no head + body concatenation), after the head alone.
    const at = spied.writes.indexOf(big);
    expect(at).toBeGreaterThan(0);
    expect(String(spied.writes[at - 1])).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n$/);
    expect(spied.writevs).toContain(2);
  });

  it('is what Node does not do on its own (the check above fails with a plain ServerResponse)', async () => {
    const spied: Spied = { writes: [], writevs: [] };
    const port = await serve(ServerResponse, writeHeadThen('write', big), spied);
    const [answer] = await exchange(port, [get('/')]);
    expect(answer!.body.toString('utf8')).toBe(big);
    expect(spied.writes.indexOf(big)).toBe(-1);
  });

  it('answers byte for byte like a plain ServerResponse, on one kept-alive connection', async () => {
    const small = '{"data":{"ok":true}}';
    const handler: Handler = (req, res) => {
      if (req.url === '/end') return writeHeadThen('end', big)(req, res);
      if (req.url === '/small') return writeHeadThen('write', small)(req, res);
      if (req.url === '/implicit') {
        // No writeHead: Node builds the head itself, with the Content-Length of end's chunk.
        res.setHeader('content-type', 'text/plain');
        res.end(big);
        return;
      }
      return writeHeadThen('write', big)(req, res);
    };
    const requests = [get('/write'), get('/end'), get('/small'), get('/implicit'), `HEAD /write HTTP/1.1\r\nhost: test\r\n\r\n`, get('/write')];
    const ours = await exchange(await serve(HeadApartResponse, handler), requests);
    await new Promise<void>((r) => server!.close(() => r()));
    const plain = await exchange(await serve(ServerResponse, handler), requests);
    const strip = (head: string) => head.replace(/\r\ndate: [^\r]*/i, '');
    expect(ours.map((a) => ({ head: strip(a.head), body: a.body.toString('utf8') }))).toEqual(
      plain.map((a) => ({ head: strip(a.head), body: a.body.toString('utf8') })),
    );
    expect(ours[0]!.body.toString('utf8')).toBe(big);
    expect(ours[3]!.head).toMatch(new RegExp(`content-length: ${Buffer.byteLength(big)}`, 'i'));
    expect(ours[4]!.body.length).toBe(0);
  });

  it('keeps chunked encoding whole when the head has no Content-Length', async () => {
    const port = await serve(HeadApartResponse, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(big);
      res.end();
    });
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    expect(await res.text()).toBe(big);
  });
});
