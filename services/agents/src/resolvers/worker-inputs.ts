import { z } from 'zod';
import { badInput } from '@cos/errors';
import { AGENT_KINDS, type AgentKind, type AgentStepRecord } from '@cos/events';
import { validate } from '@cos/service-kit';

/**
 * Input limits of the worker protocol: what a worker may send is bounded in count and size, so a buggy or hostile
 * worker cannot bloat the event store (every checkpoint is an event kept forever).
 */
export const LIMITS = {
  leaseSeconds: { min: 5, max: 900 },
  stepBytes: 64 * 1024,
  dataBytes: 256 * 1024,
  resultBytes: 64 * 1024,
  toolCalls: 50,
} as const;

const jsonBytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v ?? null), 'utf8');
const withinBytes = (field: string, value: unknown, max: number) => {
  const size = jsonBytes(value);
  if (size > max) throw badInput(field, `${field} is ${size} bytes; at most ${max}`);
};

const label = z.string().max(100).regex(/^[\x20-\x7e]*$/, 'must be printable ASCII');
const iso = z.iso.datetime({ offset: true });
const count = z.number().int().min(0).max(1_000_000_000);

const claimSchema = z.object({
  kinds: z
    .array(z.enum(AGENT_KINDS as [AgentKind, ...AgentKind[]]))
    .min(1, 'name at least one kind')
    .max(AGENT_KINDS.length)
    .transform((k) => [...new Set(k)]),
  leaseSeconds: z
    .number()
    .int()
    .min(LIMITS.leaseSeconds.min)
    .max(LIMITS.leaseSeconds.max)
    .nullish()
    .transform((v) => v ?? 60),
  worker: label.nullish(),
});

const tokenSchema = z.string().min(1).max(200);

const toolCallSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1..64 characters of A-Z a-z 0-9 _ . : -'),
  arguments: z.unknown().optional(),
  result: z.unknown().optional(),
  error: z.string().max(2_000).nullish(),
  durationMs: count.nullish(),
});

const stepSchema = z.object({
  name: z.string().trim().min(1).max(100),
  startedAt: iso.nullish(),
  finishedAt: iso.nullish(),
  model: label.nullish(),
  prompt: label.nullish(),
  modelCalls: count.nullish(),
  promptTokens: count.nullish(),
  completionTokens: count.nullish(),
  costUsd: z.number().min(0).max(1_000_000).nullish(),
  toolCalls: z.array(toolCallSchema).max(LIMITS.toolCalls).nullish(),
});

export function parseClaim(args: { kinds: readonly string[]; leaseSeconds?: number | null; worker?: string | null }) {
  return validate(claimSchema, { kinds: args.kinds, leaseSeconds: args.leaseSeconds, worker: args.worker });
}

export const parseToken = (token: string) => validate(tokenSchema, token, 'token');

export function parseCheckpoint(args: { token: string; step: unknown; data: unknown; seq?: number | null }): {
  token: string;
  seq: number | null;
  step: AgentStepRecord;
  data: unknown;
} {
  const token = parseToken(args.token);
  if (args.seq != null && (!Number.isInteger(args.seq) || args.seq < 1)) throw badInput('seq', 'seq must be a positive integer');
  const s = validate(stepSchema, args.step, 'step');
  const step: AgentStepRecord = {
    name: s.name,
    startedAt: s.startedAt ?? null,
    finishedAt: s.finishedAt ?? null,
    model: s.model ?? null,
    prompt: s.prompt ?? null,
    modelCalls: s.modelCalls ?? 0,
    promptTokens: s.promptTokens ?? 0,
    completionTokens: s.completionTokens ?? 0,
    costUsd: s.costUsd ?? 0,
    toolCalls: (s.toolCalls ?? []).map((c) => ({
      name: c.name,
      arguments: c.arguments ?? null,
      result: c.result ?? null,
      error: c.error ?? null,
      durationMs: c.durationMs ?? null,
    })),
  };
  if (step.startedAt && step.finishedAt && Date.parse(step.finishedAt) < Date.parse(step.startedAt)) {
    throw badInput('step.finishedAt', 'step.finishedAt is before step.startedAt');
  }
  withinBytes('step', step, LIMITS.stepBytes);
  if (args.data === undefined) throw badInput('data', 'data is required');
  withinBytes('data', args.data, LIMITS.dataBytes);
  return { token, seq: args.seq ?? null, step, data: args.data };
}

export function parseCompletion(args: { token: string; result?: unknown }) {
  const token = parseToken(args.token);
  const result = args.result ?? null;
  withinBytes('result', result, LIMITS.resultBytes);
  return { token, result };
}

export function parseFailure(args: { token: string; reason: string; retryable?: boolean | null }) {
  const token = parseToken(args.token);
  const reason = validate(z.string().trim().min(1, 'must not be empty').max(2_000), args.reason, 'reason');
  return { token, reason, retryable: args.retryable ?? true };
}
