import type { z } from 'zod';
import type { AgentToolCallRecord } from '@cos/events';

/**
 * What a specialist's step asks of a model: a versioned prompt, the tools it may call (each executed through the
 * graph with the worker's key), and the shape of the answer. Providers differ in how they think, not in what they
 * return: the deterministic rules (default, no key) and an OpenAI-compatible chat-completions client.
 */
export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the arguments. */
  parameters: Record<string, unknown>;
  /** Runs the tool; the answer goes back to the model as JSON. Throws on failure (the model sees the error). */
  run(args: Record<string, unknown>): Promise<unknown>;
}

export interface Prompt {
  /** `<kind>/<step>@v<N>`: recorded on the step, so a run says which prompt produced it. */
  id: string;
  system: string;
  user: string;
}

export interface ModelRequest<T> {
  prompt: Prompt;
  /** The values the prompt's `{{placeholders}}` were filled from (the rules read them directly). */
  input: Record<string, unknown>;
  tools: ToolSpec[];
  /** The answer's shape; the provider's answer is validated against it. */
  output: z.ZodType<T>;
  /** The deterministic answer (what the `rules` provider returns); it may call the tools too. */
  rules: (input: Record<string, unknown>, call: (name: string, args: Record<string, unknown>) => Promise<unknown>) => T | Promise<T>;
  signal?: AbortSignal;
}

export interface ModelUsage {
  modelCalls: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
}

export interface ModelResult<T> {
  output: T;
  /** `provider:model`, recorded on the step. */
  model: string;
  usage: ModelUsage;
  toolCalls: AgentToolCallRecord[];
}

export interface ModelProvider {
  readonly name: string;
  complete<T>(req: ModelRequest<T>): Promise<ModelResult<T>>;
}

/** A failure of the model itself (after retries, or the breaker open): the attempt may be retried later. */
export class ModelError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'ModelError';
  }
}

/** Runs a tool and records the call (arguments, result or error, duration), size-bounded for the run's record. */
export async function callTool(tools: ToolSpec[], name: string, args: Record<string, unknown>): Promise<{ result: unknown; record: AgentToolCallRecord }> {
  const started = Date.now();
  const tool = tools.find((t) => t.name === name);
  if (!tool) {
    const error = `unknown tool ${name}`;
    return { result: { error }, record: { name: safeName(name), arguments: bounded(args), error, durationMs: 0 } };
  }
  try {
    const result = await tool.run(args);
    return { result, record: { name, arguments: bounded(args), result: bounded(result), error: null, durationMs: Date.now() - started } };
  } catch (err) {
    const error = (err as Error).message.slice(0, 500);
    return { result: { error }, record: { name, arguments: bounded(args), error, durationMs: Date.now() - started } };
  }
}

/** A tool caller that records every call in `calls` and throws when the tool failed (for code, not models). */
export function recordingCaller(tools: ToolSpec[], calls: AgentToolCallRecord[]) {
  return async (name: string, args: Record<string, unknown>): Promise<unknown> => {
    const { result, record } = await callTool(tools, name, args);
    calls.push(record);
    if (record.error) throw new Error(`${name} failed: ${record.error}`);
    return result;
  };
}

const safeName = (n: string) => (/^[A-Za-z0-9_.:-]{1,64}$/.test(n) ? n : 'invalid-tool-name');

/** Keeps what a run records of a tool call small: JSON over 4 KB is replaced by a note of its size. */
export function bounded(v: unknown, maxBytes = 4_096): unknown {
  const json = JSON.stringify(v ?? null);
  return json.length <= maxBytes ? (v ?? null) : { truncated: true, bytes: Buffer.byteLength(json, 'utf8') };
}
