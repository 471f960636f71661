import { describe, expect, it } from 'vitest';
import { computeHealth, DAY_MS, gradeOf, isChurnRisk, type SignalPoint } from '../src/domain/health';

const NOW = new Date('2026-06-30T12:00:00.000Z');
const ago = (days: number) => new Date(NOW.getTime() - days * DAY_MS).toISOString();
const sig = (kind: SignalPoint['kind'], value: number, daysAgo = 1): SignalPoint => ({ kind, value, occurredAt: ago(daysAgo) });
const factor = (r: ReturnType<typeof computeHealth>, name: string) => r?.factors.find((f) => f.name === name);

describe('computeHealth', () => {
  it('no signals: no score', () => {
    expect(computeHealth([], NOW)).toBeNull();
  });

  it('all five factors with the documented weights', () => {
    const r = computeHealth(
      [sig('PRODUCT_USAGE', 0.8), sig('PRODUCT_USAGE', 0.6), sig('SUPPORT_TICKET', 2), sig('NPS', 8), sig('NPS', 6), sig('PAYMENT_FAILED', 100), sig('LOGIN', 10)],
      NOW,
    );
    // usage .7, support 1-2/8=.75, nps .7, payments .5, engagement .5
    const expected = 100 * (0.35 * 0.7 + 0.2 * 0.75 + 0.2 * 0.7 + 0.15 * 0.5 + 0.1 * 0.5);
    expect(r).not.toBeNull();
    expect(r!.score).toBe(Math.round(expected)); // 66
    expect(r!.score).toBe(66);
    expect(r!.grade).toBe('B');
    expect(r!.factors).toEqual([
      { name: 'usage', weight: 0.35, value: 0.7 },
      { name: 'support', weight: 0.2, value: 0.75 },
      { name: 'nps', weight: 0.2, value: 0.7 },
      { name: 'payments', weight: 0.15, value: 0.5 },
      { name: 'engagement', weight: 0.1, value: 0.5 },
    ]);
  });

  it('renormalises the weights over the factors that have data', () => {
    const r = computeHealth([sig('PRODUCT_USAGE', 0.5), sig('NPS', 10)], NOW);
    // (.35 * .5 + .2 * 1) / .55 = 68.18
    expect(r!.score).toBe(68);
    expect(r!.factors.map((f) => f.name)).toEqual(['usage', 'nps']);
    expect(r!.factors[0]!.weight).toBeCloseTo(0.35 / 0.55, 6);
    expect(r!.factors[1]!.weight).toBeCloseTo(0.2 / 0.55, 6);
    const sumW = r!.factors.reduce((a, f) => a + f.weight, 0);
    expect(sumW).toBeCloseTo(1, 5);
    // the reported weights reproduce the score
    expect(Math.round(100 * r!.factors.reduce((a, f) => a + f.weight * f.value, 0))).toBe(r!.score);
  });

  it('a single factor alone is the score', () => {
    expect(computeHealth([sig('PRODUCT_USAGE', 0.42)], NOW)!.score).toBe(42);
    expect(computeHealth([sig('NPS', 3)], NOW)!.score).toBe(30);
  });

  describe('windows are relative to now (inclusive boundary)', () => {
    it('usage counts within 30 days, not after', () => {
      expect(factor(computeHealth([sig('PRODUCT_USAGE', 0.9, 30), sig('PRODUCT_USAGE', 0.1, 1)], NOW), 'usage')!.value).toBe(0.5);
      const r = computeHealth([sig('PRODUCT_USAGE', 0.9, 30.001), sig('PRODUCT_USAGE', 0.1, 1)], NOW);
      expect(factor(r, 'usage')!.value).toBe(0.1);
    });

    it('a mean factor whose readings are all outside its window has no data', () => {
      expect(computeHealth([sig('PRODUCT_USAGE', 0.9, 31)], NOW)).toBeNull();
      expect(computeHealth([sig('NPS', 9, 91)], NOW)).toBeNull();
      const r = computeHealth([sig('PRODUCT_USAGE', 0.9, 31), sig('NPS', 5, 89)], NOW);
      expect(r!.factors.map((f) => f.name)).toEqual(['nps']);
      expect(r!.score).toBe(50);
    });

    it('NPS uses 90 days', () => {
      const r = computeHealth([sig('NPS', 10, 90), sig('NPS', 0, 45)], NOW);
      expect(factor(r, 'nps')!.value).toBe(0.5);
    });

    it('support: only tickets in the last 30 days count; an empty window is a healthy 1', () => {
      expect(factor(computeHealth([sig('SUPPORT_TICKET', 4, 10), sig('SUPPORT_TICKET', 4, 40)], NOW), 'support')!.value).toBe(0.5);
      const quiet = computeHealth([sig('SUPPORT_TICKET', 4, 40)], NOW);
      expect(factor(quiet, 'support')!.value).toBe(1);
      expect(quiet!.score).toBe(100);
    });

    it('support saturates at a severity sum of 8', () => {
      const r = computeHealth([sig('SUPPORT_TICKET', 4), sig('SUPPORT_TICKET', 4), sig('SUPPORT_TICKET', 3)], NOW);
      expect(factor(r, 'support')!.value).toBe(0);
    });

    it('payments: 1 with no failure in 90 days, else 1 - 0.5 per failure, floored at 0', () => {
      expect(factor(computeHealth([sig('PAYMENT_FAILED', 10, 91)], NOW), 'payments')!.value).toBe(1);
      expect(factor(computeHealth([sig('PAYMENT_FAILED', 10, 89)], NOW), 'payments')!.value).toBe(0.5);
      expect(factor(computeHealth([sig('PAYMENT_FAILED', 10), sig('PAYMENT_FAILED', 0)], NOW), 'payments')!.value).toBe(0);
      expect(factor(computeHealth([sig('PAYMENT_FAILED', 10), sig('PAYMENT_FAILED', 1), sig('PAYMENT_FAILED', 1)], NOW), 'payments')!.value).toBe(0);
    });

    it('engagement: logins in 30 days / 20, capped at 1; old logins only → 0', () => {
      expect(factor(computeHealth([sig('LOGIN', 5), sig('LOGIN', 5)], NOW), 'engagement')!.value).toBe(0.5);
      expect(factor(computeHealth([sig('LOGIN', 50)], NOW), 'engagement')!.value).toBe(1);
      const stale = computeHealth([sig('LOGIN', 50, 31)], NOW);
      expect(factor(stale, 'engagement')!.value).toBe(0);
      expect(stale!.score).toBe(0);
    });

    it('the same signals score differently as time passes', () => {
      const signals = [sig('PRODUCT_USAGE', 0.2, 1), sig('NPS', 10, 1)];
      expect(computeHealth(signals, NOW)!.score).toBe(Math.round((100 * (0.35 * 0.2 + 0.2 * 1)) / 0.55)); // 49
      const later = new Date(NOW.getTime() + 40 * DAY_MS);
      expect(computeHealth(signals, later)!.score).toBe(100); // usage fell out of its window; NPS still in
    });
  });

  it('clamps out-of-range means into 0..1', () => {
    expect(computeHealth([sig('PRODUCT_USAGE', 1.5)], NOW)!.score).toBe(100);
  });
});

describe('grade and churn boundaries', () => {
  it.each([
    [100, 'A'],
    [80, 'A'],
    [79, 'B'],
    [65, 'B'],
    [64, 'C'],
    [50, 'C'],
    [49, 'D'],
    [40, 'D'],
    [39, 'F'],
    [0, 'F'],
  ])('score %i → %s', (score, grade) => {
    expect(gradeOf(score)).toBe(grade);
  });

  it('churn risk below 40 only; null is not at risk', () => {
    expect(isChurnRisk(39)).toBe(true);
    expect(isChurnRisk(40)).toBe(false);
    expect(isChurnRisk(0)).toBe(true);
    expect(isChurnRisk(null)).toBe(false);
  });

  it('exact boundaries survive float arithmetic (score 40 from usage 0.4 is grade D, not at risk)', () => {
    const r = computeHealth([sig('PRODUCT_USAGE', 0.4)], NOW)!;
    expect(r.score).toBe(40);
    expect(r.grade).toBe('D');
    expect(isChurnRisk(r.score)).toBe(false);
    // a mixed exact boundary: (.35 * .8 + .2 * .8) / .55 = 80
    const eighty = computeHealth([sig('PRODUCT_USAGE', 0.8), sig('NPS', 8)], NOW)!;
    expect(eighty.score).toBe(80);
    expect(eighty.grade).toBe('A');
  });

  it('rounds half up at the score level (x.5 → up)', () => {
    // usage .395 alone → 39.5 → 40
    expect(computeHealth([sig('PRODUCT_USAGE', 0.395)], NOW)!.score).toBe(40);
    expect(computeHealth([sig('PRODUCT_USAGE', 0.394)], NOW)!.score).toBe(39);
  });
});
