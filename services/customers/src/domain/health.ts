/**
 * Customer health, computed from STORED signals only (pure: no I/O, no clock — `now` is an argument).
 *
 * Formula (the README carries the same text):
 *
 * | factor     | signals            | window | value (0..1)                                         | weight |
 * |------------|--------------------|--------|------------------------------------------------------|--------|
 * | usage      | PRODUCT_USAGE      | 30 d   | mean of the values                                   | 0.35   |
 * | support    | SUPPORT_TICKET     | 30 d   | 1 - min(1, Σ severity / 8)                           | 0.20   |
 * | nps        | NPS                | 90 d   | mean of the answers / 10                             | 0.20   |
 * | payments   | PAYMENT_FAILED     | 90 d   | 1 if none, else max(0, 1 - 0.5 · count)              | 0.15   |
 * | engagement | LOGIN              | 30 d   | min(1, Σ login counts / 20)                          | 0.10   |
 *
 * - A window is relative to `now`: a signal counts when `now - window <= occurredAt` (inclusive boundary).
 * - Which factors have data: a mean (usage, nps) needs at least one signal of its kind inside its window. A count
 *   (support, payments, engagement) needs at least one signal of its kind ever recorded for the customer — once a
 *   source reports for a customer, an empty window means "nothing happened" (no tickets → support 1, no failed
 *   payment → payments 1, no logins → engagement 0). A customer who never had a signal of that kind has no data.
 * - Factors without data are left out and the remaining weights renormalised to sum to 1; each reported factor
 *   carries its renormalised weight, so `score = round(100 · Σ weight · value)`.
 * - grade: A ≥ 80, B ≥ 65, C ≥ 50, D ≥ 40, F < 40. churnRisk = score < 40.
 * - No factor with data (e.g. no signals at all) → no score (`null`), and churnRisk is false.
 */
import type { HealthFactor, SignalKind } from '@cos/events';

export const DAY_MS = 24 * 60 * 60 * 1000;

/** A stored signal, as far as health is concerned. */
export interface SignalPoint {
  kind: SignalKind;
  value: number;
  /** ISO-8601 */
  occurredAt: string;
}

/** A computed score: what HealthScoreChanged carries and the GraphQL HealthScore type shows. */
export interface HealthResult {
  score: number;
  grade: string;
  factors: HealthFactor[];
}

/** The GraphQL HealthScore as resolvers return it. */
export interface HealthScoreView extends HealthResult {
  computedAt: string;
}

type Aggregation = 'mean' | 'count';

interface FactorDef {
  name: string;
  kind: SignalKind;
  weight: number;
  windowDays: number;
  aggregation: Aggregation;
  /** Maps the in-window values (possibly empty for 'count' factors) to 0..1. */
  value: (values: number[]) => number;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: number[]) => sum(xs) / xs.length;
const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

/** The factor table, in the order factors are reported. */
export const HEALTH_FACTORS: readonly FactorDef[] = [
  { name: 'usage', kind: 'PRODUCT_USAGE', weight: 0.35, windowDays: 30, aggregation: 'mean', value: (v) => clamp01(mean(v)) },
  { name: 'support', kind: 'SUPPORT_TICKET', weight: 0.2, windowDays: 30, aggregation: 'count', value: (v) => 1 - Math.min(1, sum(v) / 8) },
  { name: 'nps', kind: 'NPS', weight: 0.2, windowDays: 90, aggregation: 'mean', value: (v) => clamp01(mean(v) / 10) },
  { name: 'payments', kind: 'PAYMENT_FAILED', weight: 0.15, windowDays: 90, aggregation: 'count', value: (v) => (v.length === 0 ? 1 : Math.max(0, 1 - 0.5 * v.length)) },
  { name: 'engagement', kind: 'LOGIN', weight: 0.1, windowDays: 30, aggregation: 'count', value: (v) => Math.min(1, sum(v) / 20) },
];

/** The window (in days) within which a signal of `kind` counts toward health. */
export const windowDaysOf = (kind: SignalKind): number => HEALTH_FACTORS.find((f) => f.kind === kind)!.windowDays;

/** Letter grade of a 0..100 score. */
export function gradeOf(score: number): string {
  if (score >= 80) return 'A';
  if (score >= 65) return 'B';
  if (score >= 50) return 'C';
  if (score >= 40) return 'D';
  return 'F';
}

/** True when a score means the customer is at risk of churning. */
export const isChurnRisk = (score: number | null): boolean => score !== null && score < 40;

/**
 * Computes health from a customer's stored signals at `now`; `null` when no factor has data.
 * See the module comment for the formula.
 */
export function computeHealth(signals: readonly SignalPoint[], now: Date): HealthResult | null {
  const nowMs = now.getTime();
  const present: { def: FactorDef; value: number }[] = [];
  for (const def of HEALTH_FACTORS) {
    const ofKind = signals.filter((s) => s.kind === def.kind);
    if (ofKind.length === 0) continue;
    const since = nowMs - def.windowDays * DAY_MS;
    const inWindow = ofKind.filter((s) => Date.parse(s.occurredAt) >= since).map((s) => s.value);
    if (def.aggregation === 'mean' && inWindow.length === 0) continue;
    present.push({ def, value: def.value(inWindow) });
  }
  if (present.length === 0) return null;
  const totalWeight = sum(present.map((p) => p.def.weight));
  const factors: HealthFactor[] = present.map((p) => ({
    name: p.def.name,
    weight: round(p.def.weight / totalWeight, 6),
    value: round(p.value, 6),
  }));
  const raw = (100 * sum(present.map((p) => p.def.weight * p.value))) / totalWeight;
  // Trim float noise first (e.g. 39.99999999997 must round like 40) so grade boundaries are exact.
  const score = Math.round(round(raw, 9));
  return { score, grade: gradeOf(score), factors };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
