/**
 * The virus-scan hook: every upload is scanned after it is staged and before it is stored. The default scanner does
 * nothing; `clamd://host:port` scans with ClamAV's daemon (INSTREAM over TCP, with a timeout); `eicar` refuses files
 * containing the EICAR test string (a stand-in to prove the hook in tests and demos, not protection).
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';

export type ScanVerdict = { clean: true } | { clean: false; signature: string };

export interface VirusScanner {
  readonly name: string;
  scan(filePath: string): Promise<ScanVerdict>;
}

export const noopScanner: VirusScanner = { name: 'none', scan: async () => ({ clean: true }) };

/** The EICAR anti-virus test file's string (https://www.eicar.org/download-anti-malware-testfile/). */
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

export const eicarScanner: VirusScanner = {
  name: 'eicar',
  async scan(filePath) {
    const bytes = await readFile(filePath);
    return bytes.includes(EICAR) ? { clean: false, signature: 'Eicar-Test-Signature' } : { clean: true };
  },
};

/**
 * ClamAV's clamd over TCP: `zINSTREAM\0`, then chunks each prefixed by their 4-byte big-endian length, then a zero
 * length; the answer is `stream: OK` or `stream: <signature> FOUND`. Any other answer, a connection error or the
 * timeout fails the scan (the upload is refused: fail closed).
 */
export function clamdScanner(opts: { host: string; port: number; timeoutMs?: number }): VirusScanner {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return {
    name: `clamd://${opts.host}:${opts.port}`,
    scan: (filePath) =>
      new Promise<ScanVerdict>((resolve, reject) => {
        const socket = net.connect({ host: opts.host, port: opts.port });
        let answer = '';
        let settled = false;
        const done = (err: Error | null, v?: ScanVerdict) => {
          if (settled) return;
          settled = true;
          socket.destroy();
          if (err) reject(err);
          else resolve(v!);
        };
        socket.setTimeout(timeoutMs, () => done(new Error(`clamd did not answer within ${timeoutMs} ms`)));
        socket.on('error', (err) => done(new Error(`clamd: ${err.message}`)));
        socket.on('data', (d) => {
          answer += d.toString('utf8');
        });
        socket.on('end', () => {
          const line = answer.replace(/\0/g, '').trim();
          if (/^stream: OK$/.test(line)) return done(null, { clean: true });
          const found = /^stream: (.+) FOUND$/.exec(line);
          if (found) return done(null, { clean: false, signature: found[1]! });
          done(new Error(`clamd answered ${JSON.stringify(line.slice(0, 200))}`));
        });
        socket.on('connect', async () => {
          try {
            socket.write('zINSTREAM\0');
            for await (const chunk of createReadStream(filePath, { highWaterMark: 64 * 1024 })) {
              const len = Buffer.alloc(4);
              len.writeUInt32BE((chunk as Buffer).length);
              socket.write(len);
              socket.write(chunk as Buffer);
            }
            socket.write(Buffer.alloc(4));
          } catch (err) {
            done(err as Error);
          }
        });
      }),
  };
}

/** From config: `none` (default), `eicar`, or `clamd://host:port`. */
export function scannerFromConfig(spec: string, timeoutMs?: number): VirusScanner {
  if (spec === 'none' || spec === '') return noopScanner;
  if (spec === 'eicar') return eicarScanner;
  const m = /^clamd:\/\/([^:/]+):(\d+)$/.exec(spec);
  if (m) return clamdScanner({ host: m[1]!, port: Number(m[2]), timeoutMs });
  throw new Error(`unknown virus scanner ${JSON.stringify(spec)} (none | eicar | clamd://host:port)`);
}
