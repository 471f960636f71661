import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  DelegateBackoff,
  TaskCancelledError,
  TimeoutStrategy,
  circuitBreaker,
  handleWhen,
  retry,
  timeout,
  wrap,
  type IRetryBackoffContext,
} from 'cockatiel';
import OpenAI from 'openai';
import type { ChatCompletion, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { z } from 'zod';
import type { AgentToolCallRecord } from '@cos/events';
import type { Logger } from '@cos/logger';
import { callTool, ModelError, type ModelProvider, type ModelRequest, type ModelResult } from './provider';

export interface OpenAICompatibleOptions {
  baseUrl: string;
  apiKey: string;
  model: string;
  /** Per HTTP request to the model server. */
  timeoutMs: number;
  maxRetries: number;
  breakerThreshold: number;
  breakerResetMs: number;
  maxToolRounds: number;
  temperature: number;
  /** US dollars per million tokens. */
  priceInputPerMTok: number;
  priceOutputPerMTok: number;
  log: Logger;
  /** Observes each HTTP call (metrics). */
  onCall?: (outcome: 'ok' | 'error', seconds: number) => void;
  onBreaker?: (open: boolean) => void;
  /** First retry delay (tests shorten it). */
  retryBaseMs?: number;
}

/** Errors worth another try: no answer, timeouts, 408/409/429 and 5xx (what the OpenAI API documents as transient). */
export function isTransient(err: Error): boolean {
  if (err instanceof OpenAI.APIConnectionError) return true; // includes timeouts
  if (err instanceof OpenAI.APIError && typeof err.status === 'number') {
    return err.status === 408 || err.status === 409 || err.status === 429 || err.status >= 500;
  }
  return false;
}

/** Seconds a 429/503 asked us to wait (`retry-after-ms` or `retry-after`, seconds or an HTTP date), capped at 60 s. */
export function retryAfterMs(err: unknown): number | null {
  const headers = err instanceof OpenAI.APIError ? err.headers : undefined;
  if (!headers) return null;
  const ms = Number(headers.get('retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return Math.min(ms, 60_000);
  const raw = headers.get('retry-after');
  if (!raw) return null;
  const secs = Number(raw);
  const wait = Number.isFinite(secs) ? secs * 1000 : Date.parse(raw) - Date.now();
  return Number.isFinite(wait) && wait >= 0 ? Math.min(wait, 60_000) : null;
}

/** Pulls the JSON object out of a model's final message (tolerating a ```json fence or prose around it). */
export function extractJson(content: string): unknown {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/.exec(content);
  const text = (fenced?.[1] ?? content).trim();
  try {
    return JSON.parse(text);
  } catch {
    const start = text.indexOf('{');
    const end = text.lastIndexOf('}');
    if (start >= 0 && end > start) return JSON.parse(text.slice(start, end + 1));
    throw new Error('the answer is not a JSON object');
  }
}

/**
 * A model behind any OpenAI-compatible chat-completions endpoint (OpenAI, Azure OpenAI, vLLM, Ollama, LM Studio...),
 * on the official `openai` client with its own retries off: cockatiel gives each request a timeout, retries transient
 * failures with exponential backoff and jitter (honouring Retry-After), and a circuit breaker stops calling a server
 * that keeps failing (the step fails fast and the run is retried later). A step is a loop: the model may call tools
 * (each through the graph), at most `maxToolRounds` rounds, then answers with a JSON object of the step's shape;
 * one invalid answer gets one correction round.
 */
export function createOpenAICompatibleProvider(opts: OpenAICompatibleOptions): ModelProvider {
  const client = new OpenAI({ apiKey: opts.apiKey, baseURL: opts.baseUrl, maxRetries: 0, timeout: opts.timeoutMs });
  const base = opts.retryBaseMs ?? 500;
  const backoff = new DelegateBackoff<IRetryBackoffContext<unknown>>((ctx) => {
    const asked = 'error' in ctx.result ? retryAfterMs(ctx.result.error) : null;
    if (asked !== null) return asked;
    // Full jitter: a random wait up to base·2^(attempt-1), capped at 20 s.
    return Math.round(Math.random() * Math.min(20_000, base * 2 ** (ctx.attempt - 1)));
  });
  const retryPolicy = retry(handleWhen(isTransient), { maxAttempts: opts.maxRetries, backoff });
  const breaker = circuitBreaker(handleWhen(isTransient), {
    halfOpenAfter: opts.breakerResetMs,
    breaker: new ConsecutiveBreaker(opts.breakerThreshold),
  });
  breaker.onBreak(() => {
    opts.log.warn({ baseUrl: opts.baseUrl }, 'model circuit breaker open: calls fail fast');
    opts.onBreaker?.(true);
  });
  breaker.onReset(() => {
    opts.log.info('model circuit breaker closed');
    opts.onBreaker?.(false);
  });
  // A hard deadline per request on top of the client's own timeout (covers a body that trickles).
  const perRequest = timeout(opts.timeoutMs + 1_000, TimeoutStrategy.Aggressive);
  const policy = wrap(retryPolicy, breaker, perRequest);
  const modelName = `openai:${opts.model}`;

  async function chat(body: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming, signal?: AbortSignal): Promise<ChatCompletion> {
    try {
      return await policy.execute(async ({ signal: attemptSignal }) => {
        const started = performance.now();
        try {
          const res = await client.chat.completions.create(body, { signal: signal ? AbortSignal.any([signal, attemptSignal]) : attemptSignal });
          opts.onCall?.('ok', (performance.now() - started) / 1000);
          return res;
        } catch (err) {
          opts.onCall?.('error', (performance.now() - started) / 1000);
          throw err;
        }
      }, signal);
    } catch (err) {
      if (err instanceof BrokenCircuitError) throw new ModelError('the model server keeps failing (circuit open); try later', true);
      if (err instanceof TaskCancelledError) throw new ModelError(`the model did not answer within ${opts.timeoutMs} ms`, true);
      if (err instanceof Error && isTransient(err)) throw new ModelError(`model call failed after retries: ${err.message}`, true);
      if (err instanceof OpenAI.APIError) throw new ModelError(`model call refused: ${err.message}`, false);
      throw err;
    }
  }

  return {
    name: modelName,
    async complete<T>(req: ModelRequest<T>): Promise<ModelResult<T>> {
      const schema = z.toJSONSchema(req.output as z.ZodType);
      const messages: ChatCompletionMessageParam[] = [
        {
          role: 'system',
          content: `${req.prompt.system}\n\nWhen you are done, answer with only a JSON object matching this JSON Schema:\n${JSON.stringify(schema)}`,
        },
        { role: 'user', content: req.prompt.user },
      ];
      const tools: ChatCompletionTool[] = req.tools.map((t) => ({
        type: 'function',
        function: { name: t.name, description: t.description, parameters: t.parameters },
      }));
      const usage = { modelCalls: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 };
      const toolCalls: AgentToolCallRecord[] = [];
      let rounds = 0;
      let corrections = 0;
      for (;;) {
        const offerTools = tools.length > 0 && rounds < opts.maxToolRounds;
        const res = await chat(
          { model: opts.model, messages, temperature: opts.temperature, ...(offerTools ? { tools, tool_choice: 'auto' as const } : {}) },
          req.signal,
        );
        usage.modelCalls++;
        usage.promptTokens += res.usage?.prompt_tokens ?? 0;
        usage.completionTokens += res.usage?.completion_tokens ?? 0;
        const message = res.choices[0]?.message;
        if (!message) throw new ModelError('the model answered no choice', true);
        const calls = (message.tool_calls ?? []).filter((c) => c.type === 'function');
        if (calls.length > 0) {
          if (!offerTools) throw new ModelError(`the model kept calling tools after ${opts.maxToolRounds} rounds`, true);
          rounds++;
          messages.push({ role: 'assistant', content: message.content ?? null, tool_calls: calls });
          for (const c of calls) {
            let args: Record<string, unknown>;
            try {
              args = JSON.parse(c.function.arguments || '{}') as Record<string, unknown>;
            } catch {
              args = { unparsable: c.function.arguments.slice(0, 200) };
            }
            const { result, record } = await callTool(req.tools, c.function.name, args);
            toolCalls.push(record);
            messages.push({ role: 'tool', tool_call_id: c.id, content: JSON.stringify(result) });
          }
          continue;
        }
        const content = message.content ?? '';
        let issue: string;
        try {
          const parsed = req.output.safeParse(extractJson(content));
          if (parsed.success) {
            usage.costUsd = (usage.promptTokens * opts.priceInputPerMTok + usage.completionTokens * opts.priceOutputPerMTok) / 1_000_000;
            return { output: parsed.data, model: modelName, usage, toolCalls };
          }
          issue = parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ');
        } catch (err) {
          issue = (err as Error).message;
        }
        if (corrections++ >= 1) throw new ModelError(`the model's answer does not match the step's shape (${issue})`, true);
        messages.push({ role: 'assistant', content });
        messages.push({ role: 'user', content: `That answer is not valid (${issue}). Answer again with only the JSON object.` });
      }
    },
  };
}
