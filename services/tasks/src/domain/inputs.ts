/**
 * Shape rules for client input (zod): lengths, id formats, dates, enums, page sizes. Failures become
 * BAD_USER_INPUT naming the field (via service-kit's validate). State rules live in task.ts / approval.ts.
 */
import { z } from 'zod';
import { isUuid } from '@cos/db';

export const TITLE_MAX = 200;
export const DESCRIPTION_MAX = 10_000;
export const COMMENT_MAX = 10_000;
export const REASON_MAX = 10_000;
export const SEARCH_MAX = 500;
export const PAGE_MAX = 100;

const id = z.string().refine(isUuid, 'must be a valid id');
const title = z
  .string()
  .trim()
  .min(1, 'title must not be blank')
  .max(TITLE_MAX, `title must be at most ${TITLE_MAX} characters`);
const description = z
  .string()
  .max(DESCRIPTION_MAX, `description must be at most ${DESCRIPTION_MAX} characters`)
  .nullable();
const priority = z.enum(['LOW', 'MEDIUM', 'HIGH', 'URGENT']);
/** Date parsing rolls 2030-02-30 over to March; refuse days the month does not have. */
function realCalendarDay(s: string): boolean {
  const [y, m, d] = s.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

/** The DateTime scalar arrives as a string; it must be a real ISO-8601 instant. Normalized to UTC ISO. */
const isoDate = z
  .union([z.string(), z.date()])
  .transform((v, ctx) => {
    const s = v instanceof Date ? v.toISOString() : v;
    const d = new Date(s);
    if (typeof v === 'string' && !/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)) {
      ctx.addIssue({ code: 'custom', message: 'must be an ISO-8601 date-time' });
      return z.NEVER;
    }
    if (Number.isNaN(d.getTime()) || !realCalendarDay(s)) {
      ctx.addIssue({ code: 'custom', message: 'must be a valid date-time' });
      return z.NEVER;
    }
    return d.toISOString();
  });

export const createTaskInput = z.object({
  title,
  description: description.optional().transform((v) => v ?? null),
  priority: priority.nullish().transform((v) => v ?? 'MEDIUM'),
  customerId: id.nullish().transform((v) => v ?? null),
  assigneeId: id.nullish().transform((v) => v ?? null),
  dueAt: isoDate.nullish().transform((v) => v ?? null),
});
export type CreateTaskInput = z.infer<typeof createTaskInput>;

/** Absent fields stay untouched; explicit null clears a nullable field. */
export const updateTaskInput = z
  .object({
    title: title.optional(),
    description: description.optional(),
    priority: priority.optional(),
    customerId: id.nullable().optional(),
    dueAt: isoDate.nullable().optional(),
  })
  .transform((v) => Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined)) as typeof v)
  .refine((v) => Object.keys(v).length > 0, { message: 'give at least one field to change' });

export const taskStatus = z.enum(['TODO', 'IN_PROGRESS', 'AWAITING_APPROVAL', 'DONE', 'CANCELLED']);
export const expectedVersion = z.number().int().min(0, 'must be a version number');
export const commentBody = z
  .string()
  .max(COMMENT_MAX, `body must be at most ${COMMENT_MAX} characters`)
  .refine((s) => s.trim().length > 0, 'body must not be blank');
export const decisionReason = z
  .string()
  .max(REASON_MAX, `reason must be at most ${REASON_MAX} characters`)
  .nullish()
  .transform((v) => (v && v.trim().length > 0 ? v : null));

export const taskFilter = z
  .object({
    status: z.array(taskStatus).nullish(),
    assigneeId: id.nullish(),
    customerId: id.nullish(),
    search: z.string().max(SEARCH_MAX, `search must be at most ${SEARCH_MAX} characters`).nullish(),
  })
  .nullish();

export const pageSize = z
  .number()
  .int()
  .min(0, 'first must be >= 0')
  .max(PAGE_MAX, `first must be at most ${PAGE_MAX}`)
  .nullish()
  .transform((v) => v ?? 20);
