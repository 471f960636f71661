/**
 * Input rules for the customers mutations. Failures become BAD_USER_INPUT naming the field (`input.value` ...),
 * raised before anything is written.
 */
import { z } from 'zod';
import { isUuid } from '@cos/db';
import type { SignalKind } from '@cos/events';
import { validate } from '@cos/service-kit';

/** How far in the future a signal's occurredAt may lie (clock skew between sources). */
export const FUTURE_SKEW_MS = 5 * 60 * 1000;

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

const optionalText = (max: number) =>
  z
    .string()
    .trim()
    .max(max, `must be at most ${max} characters`)
    .nullish()
    .transform((v) => (v ? v : null));

const createCustomerSchema = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  domain: z
    .string()
    .trim()
    .toLowerCase()
    .refine((v) => v === '' || HOSTNAME.test(v), 'must be a domain name such as example.com')
    .nullish()
    .transform((v) => (v ? v : null)),
  plan: optionalText(50),
  mrr: z
    .number()
    .refine(Number.isFinite, 'must be a finite number')
    .refine((v) => v >= 0, 'must be zero or more')
    .refine((v) => v <= 1e12, 'is too large')
    .nullish()
    // Stored as numeric(16, 2): round here so the event and the read model agree to the cent.
    .transform((v) => (v == null ? null : Math.round(v * 100) / 100)),
  ownerId: z
    .string()
    .refine(isUuid, 'is not a valid id')
    .nullish()
    .transform((v) => v ?? null),
  contacts: z
    .array(
      z.object({
        name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
        email: z
          .string()
          .trim()
          .max(320, 'is too long')
          .refine((v) => v === '' || z.email().safeParse(v).success, 'must be an email address')
          .nullish()
          .transform((v) => (v ? v.toLowerCase() : null)),
      }),
    )
    .max(50, 'at most 50 contacts')
    .nullish()
    .transform((v) => v ?? []),
});

export type CreateCustomerInput = z.infer<typeof createCustomerSchema>;

/** Validates and normalises createCustomer's input. */
export const parseCreateCustomerInput = (input: unknown): CreateCustomerInput => validate(createCustomerSchema, input, 'input');

const SIGNAL_KINDS = ['PRODUCT_USAGE', 'SUPPORT_TICKET', 'NPS', 'PAYMENT_FAILED', 'LOGIN'] as const satisfies readonly SignalKind[];

/** The allowed value of each signal kind (API.md: out-of-range values are BAD_USER_INPUT). */
export const SIGNAL_VALUE_RULES: Record<SignalKind, { min: number; max?: number; integer: boolean; describe: string }> = {
  PRODUCT_USAGE: { min: 0, max: 1, integer: false, describe: 'a share between 0 and 1' },
  SUPPORT_TICKET: { min: 1, max: 4, integer: true, describe: 'a severity, an integer from 1 to 4' },
  NPS: { min: 0, max: 10, integer: true, describe: 'an integer from 0 to 10' },
  PAYMENT_FAILED: { min: 0, integer: false, describe: 'an amount, zero or more' },
  LOGIN: { min: 0, integer: true, describe: 'a count, an integer zero or more' },
};

export interface SignalInput {
  kind: SignalKind;
  value: number;
  occurredAt: string;
  note: string | null;
}

/** Validates recordSignal's input against the value rules of its kind; occurredAt defaults to `now`. */
export function parseSignalInput(input: unknown, now: Date): SignalInput {
  const schema = z
    .object({
      kind: z.enum(SIGNAL_KINDS),
      value: z.number().refine(Number.isFinite, 'must be a finite number'),
      occurredAt: z
        .iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time' })
        .refine((v) => Date.parse(v) <= now.getTime() + FUTURE_SKEW_MS, 'must not be in the future')
        .nullish(),
      note: optionalText(2000),
    })
    .superRefine((v, ctx) => {
      const rule = SIGNAL_VALUE_RULES[v.kind];
      const ok =
        v.value >= rule.min && (rule.max === undefined || v.value <= rule.max) && (!rule.integer || Number.isInteger(v.value));
      if (!ok) ctx.addIssue({ code: 'custom', path: ['value'], message: `${v.kind} value must be ${rule.describe}` });
    });
  const parsed = validate(schema, input, 'input');
  return {
    kind: parsed.kind,
    value: parsed.value,
    occurredAt: new Date(parsed.occurredAt ? Date.parse(parsed.occurredAt) : now.getTime()).toISOString(),
    note: parsed.note,
  };
}
