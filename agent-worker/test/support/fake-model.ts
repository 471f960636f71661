import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/**
 * A local OpenAI-compatible chat-completions server for tests: POST /v1/chat/completions answers from a script of
 * replies (tool calls or a final message, with usage), streaming off, exactly the wire format of the real API. It
 * records every request (body and headers) so tests check what the client sent.
 */
export interface ChatRequest {
  model: string;
  messages: Array<{ role: string; content: string | null; tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>; tool_call_id?: string }>;
  tools?: Array<{ type: string; function: { name: string; description: string; parameters: unknown } }>;
  tool_choice?: unknown;
  temperature?: number;
}

export type Reply =
  | { toolCalls: Array<{ name: string; arguments: Record<string, unknown> }>; usage?: [number, number] }
  | { content: string; usage?: [number, number] }
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { delayMs: number; then: Reply };

export interface FakeModel {
  url: string;
  requests: Array<{ body: ChatRequest; authorization: string | undefined }>;
  /** Replies for the next requests, in order; `fallback` answers when the script is empty. */
  script(...replies: Reply[]): void;
  fallback: ((req: ChatRequest) => Reply) | null;
  close(): Promise<void>;
}

let ids = 0;

function completion(reply: Exclude<Reply, { status: number } | { delayMs: number }>, model: string) {
  const [prompt, completionTokens] = reply.usage ?? [100, 20];
  const message =
    'toolCalls' in reply
      ? {
          role: 'assistant',
          content: null,
          tool_calls: reply.toolCalls.map((c) => ({ id: `call_${++ids}`, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.arguments) } })),
        }
      : { role: 'assistant', content: reply.content };
  return {
    id: `chatcmpl-${++ids}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: 'toolCalls' in reply ? 'tool_calls' : 'stop' }],
    usage: { prompt_tokens: prompt, completion_tokens: completionTokens, total_tokens: prompt + completionTokens },
  };
}

export async function startFakeModel(): Promise<FakeModel> {
  const queue: Reply[] = [];
  const requests: FakeModel['requests'] = [];
  const sockets = new Set<import('node:net').Socket>();
  const fake: FakeModel = {
    url: '',
    requests,
    script: (...r) => void queue.push(...r),
    fallback: null,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const answer = async (res: ServerResponse, reply: Reply, model: string): Promise<void> => {
    if ('delayMs' in reply) {
      await new Promise((r) => setTimeout(r, reply.delayMs));
      if (res.destroyed) return;
      return answer(res, reply.then, model);
    }
    if ('status' in reply) {
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(JSON.stringify(reply.body ?? { error: { message: `status ${reply.status}`, type: 'server_error' } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(completion(reply, model)));
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatRequest;
      requests.push({ body, authorization: req.headers.authorization });
      const reply = queue.shift() ?? fake.fallback?.(body) ?? { status: 500, body: { error: { message: 'no scripted reply' } } };
      void answer(res, reply, body.model);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  fake.url = `http://127.0.0.1:${port}/v1`;
  return fake;
}
