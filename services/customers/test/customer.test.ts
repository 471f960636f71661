import { describe, expect, it } from 'vitest';
import type { CustomerEvent } from '@cos/events';
import { customerAggregate, decide, evolve, initialCustomerState, type CustomerState, type RecordSignal } from '../src/domain/customer';
import { DAY_MS } from '../src/domain/health';

const NOW = new Date('2026-06-30T12:00:00.000Z');
const CID = '00000000-0000-4000-8000-000000000001';
const OWNER = '00000000-0000-4000-8000-0000000000aa';

const fold = (events: CustomerEvent[], from: CustomerState = initialCustomerState) => events.reduce(customerAggregate.evolve, from);

const created = (): CustomerState =>
  fold(
    decide(
      { type: 'CreateCustomer', customerId: CID, name: 'Acme', domain: 'acme.test', plan: 'pro', mrr: 10, ownerId: OWNER, contacts: [] },
      initialCustomerState,
    ),
  );

let n = 0;
const signal = (kind: RecordSignal['kind'], value: number, now = NOW, daysAgo = 0): RecordSignal => ({
  type: 'RecordSignal',
  customerId: CID,
  signalId: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
  kind,
  value,
  occurredAt: new Date(now.getTime() - daysAgo * DAY_MS).toISOString(),
  note: null,
  now,
});

/** Applies a command and returns the events and the new state. */
function run(state: CustomerState, cmd: RecordSignal) {
  const events = decide(cmd, state);
  return { events, state: fold(events, state), types: events.map((e) => e.type) };
}

describe('Customer aggregate', () => {
  it('CreateCustomer → CustomerCreated; evolve marks it existing', () => {
    const events = decide(
      { type: 'CreateCustomer', customerId: CID, name: 'Acme', domain: null, plan: null, mrr: null, ownerId: null, contacts: [{ id: CID, name: 'Ann', email: null }] },
      initialCustomerState,
    );
    expect(events).toEqual([
      { type: 'CustomerCreated', data: { customerId: CID, name: 'Acme', domain: null, plan: null, mrr: null, ownerId: null, contacts: [{ id: CID, name: 'Ann', email: null }] } },
    ]);
    expect(fold(events)).toMatchObject({ exists: true, name: 'Acme', score: null, churnRisk: false, episode: 0 });
  });

  it('creating twice is refused', () => {
    expect(() =>
      decide({ type: 'CreateCustomer', customerId: CID, name: 'Acme', domain: null, plan: null, mrr: null, ownerId: null, contacts: [] }, created()),
    ).toThrow(/already exists/);
  });

  it('RecordSignal on an unknown customer is NOT_FOUND', () => {
    try {
      decide(signal('NPS', 5), initialCustomerState);
      expect.unreachable();
    } catch (err) {
      expect((err as { extensions: { code: string } }).extensions.code).toBe('NOT_FOUND');
    }
  });

  it('RecordSignal → SignalRecorded + HealthScoreChanged with the previous score', () => {
    const first = run(created(), signal('PRODUCT_USAGE', 0.9));
    expect(first.types).toEqual(['SignalRecorded', 'HealthScoreChanged']);
    expect(first.events[1]).toEqual({
      type: 'HealthScoreChanged',
      data: { customerId: CID, score: 90, grade: 'A', factors: [{ name: 'usage', weight: 1, value: 0.9 }], previousScore: null, computedAt: NOW.toISOString() },
    });
    const second = run(first.state, signal('PRODUCT_USAGE', 0.7));
    expect(second.events[1]).toMatchObject({ data: { score: 80, previousScore: 90 } });
    expect(second.state.signals).toHaveLength(2);
  });

  it('churn risk is flagged once per episode and cleared on recovery; a new drop is episode 2', () => {
    let s = run(created(), signal('PRODUCT_USAGE', 0.9)).state;
    const drop = run(s, signal('PRODUCT_USAGE', 0.0)); // mean .45 → 45, not yet
    expect(drop.types).toEqual(['SignalRecorded', 'HealthScoreChanged']);
    const low = run(drop.state, signal('PRODUCT_USAGE', 0.0)); // mean .3 → 30
    expect(low.types).toEqual(['SignalRecorded', 'HealthScoreChanged', 'ChurnRiskFlagged']);
    expect(low.events[2]).toEqual({ type: 'ChurnRiskFlagged', data: { customerId: CID, name: 'Acme', score: 30, ownerId: OWNER, episode: 1 } });
    const lower = run(low.state, signal('NPS', 0)); // still at risk: no second flag
    expect(lower.types).toEqual(['SignalRecorded', 'HealthScoreChanged']);
    s = lower.state;
    expect(s).toMatchObject({ churnRisk: true, episode: 1 });
    let rec = run(s, signal('NPS', 10));
    while (!rec.types.includes('ChurnRiskCleared')) rec = run(rec.state, signal('PRODUCT_USAGE', 1));
    expect(rec.events.at(-1)).toMatchObject({ type: 'ChurnRiskCleared', data: { episode: 1 } });
    expect(rec.state).toMatchObject({ churnRisk: false, episode: 1 });
    let again = run(rec.state, signal('PAYMENT_FAILED', 100));
    while (!again.types.includes('ChurnRiskFlagged')) again = run(again.state, signal('PRODUCT_USAGE', 0));
    expect(again.events.at(-1)).toMatchObject({ type: 'ChurnRiskFlagged', data: { episode: 2 } });
    expect(again.state).toMatchObject({ churnRisk: true, episode: 2 });
  });

  it('a lone signal older than its window is refused (it could never produce a score)', () => {
    try {
      decide(signal('PRODUCT_USAGE', 0.5, NOW, 45), created());
      expect.unreachable();
    } catch (err) {
      expect((err as { extensions: { code: string; field: string } }).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.occurredAt' });
    }
    // ...but accepted once the customer has data: it is stored and simply outside the window
    const withData = run(created(), signal('NPS', 8)).state;
    const old = run(withData, signal('PRODUCT_USAGE', 0.5, NOW, 45));
    expect(old.types).toEqual(['SignalRecorded', 'HealthScoreChanged']);
    expect(old.events[1]).toMatchObject({ data: { score: 80 } });
  });

  it('health is computed at the command time: old signals age out', () => {
    const s = run(created(), signal('PRODUCT_USAGE', 0.1, NOW)).state;
    const later = new Date(NOW.getTime() + 31 * DAY_MS);
    const r = run(s, signal('NPS', 9, later));
    expect(r.events[1]).toMatchObject({ data: { score: 90, factors: [{ name: 'nps', weight: 1, value: 0.9 }] } });
  });
});

describe('contact erasure (decide)', () => {
  it('erases a contact of the customer once; an unknown or already erased contact is NOT_FOUND', () => {
    const created = evolve(initialCustomerState, {
      type: 'CustomerCreated',
      data: { customerId: 'c', name: 'Acme', domain: null, plan: null, mrr: null, ownerId: null, contacts: [{ id: 'k1', name: 'A', email: null }, { id: 'k2', name: 'B', email: null }] },
    });
    const events = decide({ type: 'EraseContact', customerId: 'c', contactId: 'k1' }, created);
    expect(events).toEqual([{ type: 'CustomerContactErased', data: { customerId: 'c', contactId: 'k1' } }]);
    const after = evolve(created, events[0]!);
    expect(after.contactIds).toEqual(['k2']);
    for (const [state, id] of [[after, 'k1'], [after, 'k9'], [initialCustomerState, 'k1']] as const) {
      expect(() => decide({ type: 'EraseContact', customerId: 'c', contactId: id }, state)).toThrow(/not found/);
    }
  });
});
