import { describe, expect, it } from 'vitest';
import type { CustomerEvent, SecretHint } from '@cos/events';
import { connectionAggregate, evolveConnection, initialConnectionState, isConnectionEvent, type ConnectionEvent, type ConnectionState } from '../src/domain/connection';
import { customerAggregate, evolve, initialCustomerState, type CustomerAggregateEvent, type CustomerState } from '../src/domain/customer';

const customerId = '7b0f3c53-0000-4000-8000-000000000001';
const connectionId = '7b0f3c53-0000-4000-8000-000000000002';
const hint: SecretHint = { last4: 'abcd', fingerprint: 'f1' };

/**
 * One sample per member of each aggregate's union: the Record types make a new event type a compile error here until
 * it has a sample (and evolve's `never` check makes it one there until it is handled).
 */
const customerSamples: { [T in CustomerAggregateEvent['type']]: Extract<CustomerAggregateEvent, { type: T }> } = {
  CustomerCreated: {
    type: 'CustomerCreated',
    data: { customerId, name: 'Acme', domain: 'acme.test', plan: 'pro', mrr: 100, ownerId: null, contacts: [{ id: 'c1', name: 'Ann', email: null }, { id: 'c2', name: 'Bo', email: null }] },
  },
  SignalRecorded: {
    type: 'SignalRecorded',
    data: { customerId, signalId: 's1', kind: 'NPS', value: 9, occurredAt: '2026-12-01T00:00:00.000Z', note: null },
  },
  HealthScoreChanged: {
    type: 'HealthScoreChanged',
    data: { customerId, score: 42, grade: 'C', factors: [], previousScore: null, computedAt: '2026-12-01T00:00:00.000Z' },
  },
  ChurnRiskFlagged: { type: 'ChurnRiskFlagged', data: { customerId, name: 'Acme', score: 42, ownerId: null, episode: 1 } },
  ChurnRiskCleared: { type: 'ChurnRiskCleared', data: { customerId, score: 80, episode: 1 } },
  CustomerContactErased: { type: 'CustomerContactErased', data: { customerId, contactId: 'c1' } },
};

const connectionSamples: { [T in ConnectionEvent['type']]: Extract<ConnectionEvent, { type: T }> } = {
  ConnectionCreated: {
    type: 'ConnectionCreated',
    data: { connectionId, provider: 'SUPPORT_ZENDESK', name: 'Zendesk', config: { baseUrl: null, email: null, syncIntervalSeconds: 300 }, webhookSecretHint: hint, apiTokenHint: null },
  },
  ConnectionSecretRotated: { type: 'ConnectionSecretRotated', data: { connectionId, secret: 'WEBHOOK_SECRET', hint } },
  ConnectionDeleted: { type: 'ConnectionDeleted', data: { connectionId } },
};

describe('evolve handles every event of its aggregate', () => {
  it('Customer: each event has its effect on the state', () => {
    const created = evolve(initialCustomerState, customerSamples.CustomerCreated);
    const expected: { [T in CustomerAggregateEvent['type']]: (before: CustomerState, after: CustomerState) => void } = {
      CustomerCreated: (_b, a) => expect(a).toMatchObject({ exists: true, name: 'Acme', contactIds: ['c1', 'c2'] }),
      SignalRecorded: (b, a) => expect(a.signals).toEqual([...b.signals, { kind: 'NPS', value: 9, occurredAt: '2026-12-01T00:00:00.000Z' }]),
      HealthScoreChanged: (_b, a) => expect(a.score).toBe(42),
      ChurnRiskFlagged: (_b, a) => expect(a).toMatchObject({ churnRisk: true, episode: 1 }),
      ChurnRiskCleared: (_b, a) => expect(a.churnRisk).toBe(false),
      CustomerContactErased: (_b, a) => expect(a.contactIds).toEqual(['c2']),
    };
    for (const [type, check] of Object.entries(expected) as [CustomerAggregateEvent['type'], (b: CustomerState, a: CustomerState) => void][]) {
      const before = type === 'CustomerCreated' ? initialCustomerState : type === 'ChurnRiskCleared' ? { ...created, churnRisk: true } : created;
      check(before, evolve(before, customerSamples[type]));
    }
  });

  it('Connection: each event has its effect on the state; rotating a secret leaves it unchanged', () => {
    const created = evolveConnection(initialConnectionState, connectionSamples.ConnectionCreated);
    const expected: { [T in ConnectionEvent['type']]: ConnectionState } = {
      ConnectionCreated: { exists: true, deleted: false, provider: 'SUPPORT_ZENDESK' },
      ConnectionSecretRotated: created,
      ConnectionDeleted: { ...created, deleted: true },
    };
    for (const [type, state] of Object.entries(expected) as [ConnectionEvent['type'], ConnectionState][]) {
      const before = type === 'ConnectionCreated' ? initialConnectionState : created;
      expect(evolveConnection(before, connectionSamples[type])).toEqual(state);
    }
  });

  it('the two unions partition CustomerEvent, and each aggregate ignores the other one\'s events', () => {
    const all: CustomerEvent[] = [...Object.values(customerSamples), ...Object.values(connectionSamples)];
    for (const e of all) {
      if (isConnectionEvent(e)) expect(customerAggregate.evolve(initialCustomerState, e)).toBe(initialCustomerState);
      else expect(connectionAggregate.evolve(initialConnectionState, e)).toBe(initialConnectionState);
    }
    expect(all.filter(isConnectionEvent)).toHaveLength(Object.keys(connectionSamples).length);
  });
});
