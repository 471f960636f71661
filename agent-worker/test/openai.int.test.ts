/**
 * The OpenAI-compatible provider against a local server speaking the chat-completions wire format (no network):
 * tool-calling rounds, usage and cost, answer validation with one correction, retries with backoff (Retry-After),
 * timeouts, and the circuit breaker.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogger } from '@cos/logger';
import { createOpenAICompatibleProvider, type OpenAICompatibleOptions } from '../src/models/openai';
import { ModelError, type ToolSpec } from '../src/models/provider';
import { startFakeModel, type FakeModel } from './support/fake-model';

let fake: FakeModel;
beforeAll(async () => {
  fake = await startFakeModel();
});
afterAll(async () => fake?.close());
afterEach(() => {
  fake.requests.length = 0;
  fake.fallback = null;
});

const log = createLogger('openai-test', 'silent');
const provider = (extra: Partial<OpenAICompatibleOptions> = {}) =>
  createOpenAICompatibleProvider({
    baseUrl: fake.url,
    apiKey: 'sk-test-key',
    model: 'test-model',
    timeoutMs: 2_000,
    maxRetries: 2,
    breakerThreshold: 5,
    breakerResetMs: 60_000,
    maxToolRounds: 3,
    temperature: 0,
    priceInputPerMTok: 2.5,
    priceOutputPerMTok: 10,
    retryBaseMs: 10,
    log,
    ...extra,
  });

const toolRuns: Array<Record<string, unknown>> = [];
const customerTool: ToolSpec = {
  name: 'get_customer',
  description: 'Read a customer',
  parameters: { type: 'object', properties: { customerId: { type: 'string' } }, required: ['customerId'] },
  async run(args) {
    toolRuns.push(args);
    if (args.customerId === 'missing') throw new Error('no customer missing');
    return { name: 'Umbrella', healthScore: { score: 31, grade: 'F' } };
  },
};
const output = z.object({ draft: z.string().min(1) });
const request = (tools: ToolSpec[] = [customerTool]) => ({
  prompt: { id: 'support/draft-reply@v1', system: 'You draft replies.', user: 'Task: refund' },
  input: {},
  tools,
  output,
  rules: () => ({ draft: 'unused' }),
});

describe('OpenAI-compatible provider', () => {
  it('runs tool calls through the tools, then validates the JSON answer; usage, cost and calls are recorded', async () => {
    toolRuns.length = 0;
    fake.script(
      { toolCalls: [{ name: 'get_customer', arguments: { customerId: 'c1' } }, { name: 'get_customer', arguments: { customerId: 'missing' } }], usage: [200, 30] },
      { content: '```json\n{"draft": "Hello Umbrella team"}\n```', usage: [260, 15] },
    );
    const r = await provider().complete(request());
    expect(r.output).toEqual({ draft: 'Hello Umbrella team' });
    expect(r.model).toBe('openai:test-model');
    expect(r.usage).toEqual({ modelCalls: 2, promptTokens: 460, completionTokens: 45, costUsd: (460 * 2.5 + 45 * 10) / 1_000_000 });
    expect(toolRuns).toEqual([{ customerId: 'c1' }, { customerId: 'missing' }]);
    expect(r.toolCalls.map((c) => [c.name, c.arguments, c.error ?? null])).toEqual([
      ['get_customer', { customerId: 'c1' }, null],
      ['get_customer', { customerId: 'missing' }, 'no customer missing'],
    ]);

    // The wire format: bearer key, model, system + user messages, the tools as functions, then the tool results.
    const [first, second] = fake.requests;
    expect(first!.authorization).toBe('Bearer sk-test-key');
    expect(first!.body).toMatchObject({ model: 'test-model', temperature: 0, tool_choice: 'auto' });
    expect(first!.body.messages.map((m) => m.role)).toEqual(['system', 'user']);
    expect(first!.body.messages[0]!.content).toContain('You draft replies.');
    expect(first!.body.messages[0]!.content).toContain('"draft"'); // the answer's JSON Schema
    expect(first!.body.tools).toEqual([{ type: 'function', function: { name: 'get_customer', description: 'Read a customer', parameters: customerTool.parameters } }]);
    expect(second!.body.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool', 'tool']);
    const assistant = second!.body.messages[2]!;
    const toolMessages = second!.body.messages.slice(3);
    expect(toolMessages.map((m) => m.tool_call_id)).toEqual(assistant.tool_calls!.map((c) => c.id));
    expect(JSON.parse(toolMessages[0]!.content!)).toMatchObject({ name: 'Umbrella' });
    expect(JSON.parse(toolMessages[1]!.content!)).toEqual({ error: 'no customer missing' });
  });

  it('gives an invalid answer one correction round, then fails the step (retryable)', async () => {
    fake.script({ content: 'Sure! Here it is: {"draft": ""}' }, { content: '{"draft": "Fixed"}' });
    expect((await provider().complete(request())).output).toEqual({ draft: 'Fixed' });
    expect(fake.requests[1]!.body.messages.at(-1)!.content).toMatch(/not valid.*draft/);

    fake.script({ content: 'no json here' }, { content: 'still none' });
    const err = await provider().complete(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect((err as ModelError).retryable).toBe(true);
  });

  it('stops offering tools after the round limit', async () => {
    fake.script(
      { toolCalls: [{ name: 'get_customer', arguments: { customerId: 'c1' } }] },
      { toolCalls: [{ name: 'get_customer', arguments: { customerId: 'c1' } }] },
      { content: '{"draft": "done"}' },
    );
    await provider({ maxToolRounds: 2 }).complete(request());
    expect(fake.requests.map((r) => r.body.tools !== undefined)).toEqual([true, true, false]);
  });

  it('retries 5xx and 429 with backoff (honouring Retry-After), then answers', async () => {
    fake.script(
      { status: 503 },
      { status: 429, headers: { 'retry-after-ms': '150' }, body: { error: { message: 'slow down', type: 'rate_limit' } } },
      { content: '{"draft": "after retries"}' },
    );
    const started = Date.now();
    expect((await provider().complete(request([]))).output).toEqual({ draft: 'after retries' });
    expect(fake.requests).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('does not retry a request the server refuses (400): the step fails, not retryable', async () => {
    fake.script({ status: 400, body: { error: { message: 'bad model', type: 'invalid_request_error' } } });
    const err = await provider().complete(request([])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect((err as ModelError).retryable).toBe(false);
    expect(fake.requests).toHaveLength(1);
  });

  it('times out a server that does not answer, retries, then fails retryable', async () => {
    fake.fallback = () => ({ delayMs: 1_000, then: { content: '{"draft": "too late"}' } });
    const started = Date.now();
    const err = await provider({ timeoutMs: 200, maxRetries: 1 }).complete(request([])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect((err as ModelError).retryable).toBe(true);
    expect(fake.requests).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('opens the circuit after consecutive failures: later calls fail fast without reaching the server', async () => {
    fake.fallback = () => ({ status: 500 });
    const p = provider({ maxRetries: 0, breakerThreshold: 3, breakerResetMs: 60_000 });
    for (let i = 0; i < 3; i++) await p.complete(request([])).catch(() => null);
    expect(fake.requests).toHaveLength(3);
    const err = await p.complete(request([])).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/circuit open/);
    expect(fake.requests).toHaveLength(3);
  });
});
