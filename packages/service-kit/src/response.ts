import { ServerResponse, type IncomingMessage } from 'node:http';

/** Bodies from this many characters on go out beside the head instead of being concatenated to it. */
export const HEAD_APART_MIN_CHARS = 16_384;

/** The fields of Node's OutgoingMessage this relies on (stable for years, used by many servers; not in its types). */
interface OutgoingInternals {
  _header: string | null;
  _headerSent: boolean;
}

/**
 * A ServerResponse that sends a large string body without copying it into one string with the head.
 *
 * Node's OutgoingMessage, on the first write of a string while the head is still unsent, writes `head + body`: a new
 * string that the socket write then flattens, a full copy of the body on the JS heap. For the gateway's answers (yoga
 * writes the whole text in one `write` after `writeHead`) that copy was ~9 % of all its allocation on the Guild
 * workload (87 KB per answer). Here, when the head has been built (`writeHead`) but not sent and the chunk is a
 * string of at least HEAD_APART_MIN_CHARS, the head is flushed first, inside a cork: head and body leave together in
 * one writev, the body encoded straight from its own string. Everything else goes through Node's path unchanged
 * (small bodies, Buffers, an implicit head — its Content-Length comes from `end(chunk)`, so it is not flushed early).
 */
export class HeadApartResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    if (this.headApart(chunk)) {
      const socket = this.socket!;
      socket.cork();
      try {
        this.flushHeaders();
        return super.write(chunk, encoding as BufferEncoding, callback as (error?: Error | null) => void);
      } finally {
        socket.uncork();
      }
    }
    return super.write(chunk, encoding as BufferEncoding, callback as (error?: Error | null) => void);
  }

  override end(chunk?: unknown, encoding?: unknown, callback?: unknown): this {
    if (this.headApart(chunk)) this.flushHeadCorked();
    return super.end(chunk, encoding as BufferEncoding, callback as () => void);
  }

  private headApart(chunk: unknown): boolean {
    const self = this as unknown as OutgoingInternals;
    return typeof chunk === 'string' && chunk.length >= HEAD_APART_MIN_CHARS && self._header !== null && !self._headerSent && !!this.socket;
  }

  /** The head goes into the socket's cork; `end` writes the body after it and uncorks the socket fully. */
  private flushHeadCorked(): void {
    this.socket!.cork();
    this.flushHeaders();
  }
}
