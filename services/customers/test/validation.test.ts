import { describe, expect, it } from 'vitest';
import { parseCreateCustomerInput, parseSignalInput } from '../src/domain/validation';

const NOW = new Date('2026-06-30T12:00:00.000Z');

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    const ext = (err as { extensions?: { code?: string; field?: string } }).extensions;
    expect(ext?.code).toBe('BAD_USER_INPUT');
    return ext?.field;
  }
  throw new Error('expected BAD_USER_INPUT');
}

describe('parseSignalInput', () => {
  it.each([
    ['PRODUCT_USAGE', 0],
    ['PRODUCT_USAGE', 1],
    ['PRODUCT_USAGE', 0.37],
    ['SUPPORT_TICKET', 1],
    ['SUPPORT_TICKET', 4],
    ['NPS', 0],
    ['NPS', 10],
    ['PAYMENT_FAILED', 0],
    ['PAYMENT_FAILED', 99.95],
    ['LOGIN', 0],
    ['LOGIN', 1000],
  ])('accepts %s %d', (kind, value) => {
    expect(parseSignalInput({ kind, value }, NOW)).toEqual({ kind, value, occurredAt: NOW.toISOString(), note: null });
  });

  it.each([
    ['PRODUCT_USAGE', -0.01],
    ['PRODUCT_USAGE', 1.01],
    ['SUPPORT_TICKET', 0],
    ['SUPPORT_TICKET', 5],
    ['SUPPORT_TICKET', 2.5],
    ['NPS', -1],
    ['NPS', 11],
    ['NPS', 7.5],
    ['PAYMENT_FAILED', -1],
    ['LOGIN', -1],
    ['LOGIN', 1.5],
    ['LOGIN', Number.POSITIVE_INFINITY],
    ['NPS', Number.NaN],
  ])('refuses %s %d at input.value', (kind, value) => {
    expect(fieldOf(() => parseSignalInput({ kind, value }, NOW))).toBe('input.value');
  });

  it('occurredAt: ISO with offset, not beyond 5 minutes in the future', () => {
    expect(parseSignalInput({ kind: 'NPS', value: 5, occurredAt: '2026-06-30T14:00:00+02:00' }, NOW).occurredAt).toBe('2026-06-30T12:00:00.000Z');
    expect(parseSignalInput({ kind: 'NPS', value: 5, occurredAt: '2026-06-30T12:04:59Z' }, NOW).occurredAt).toBe('2026-06-30T12:04:59.000Z');
    expect(fieldOf(() => parseSignalInput({ kind: 'NPS', value: 5, occurredAt: '2026-06-30T12:05:01Z' }, NOW))).toBe('input.occurredAt');
    expect(fieldOf(() => parseSignalInput({ kind: 'NPS', value: 5, occurredAt: 'yesterday' }, NOW))).toBe('input.occurredAt');
    expect(fieldOf(() => parseSignalInput({ kind: 'NPS', value: 5, occurredAt: 12345 }, NOW))).toBe('input.occurredAt');
  });

  it('note at most 2000 characters; blank becomes null', () => {
    expect(parseSignalInput({ kind: 'NPS', value: 5, note: 'x'.repeat(2000) }, NOW).note).toHaveLength(2000);
    expect(parseSignalInput({ kind: 'NPS', value: 5, note: '  ' }, NOW).note).toBeNull();
    expect(fieldOf(() => parseSignalInput({ kind: 'NPS', value: 5, note: 'x'.repeat(2001) }, NOW))).toBe('input.note');
  });

  it('unknown kind', () => {
    expect(fieldOf(() => parseSignalInput({ kind: 'CHURN', value: 1 }, NOW))).toBe('input.kind');
  });
});

describe('parseCreateCustomerInput', () => {
  it('normalises a full input', () => {
    expect(
      parseCreateCustomerInput({
        name: '  Acme  ',
        domain: 'Acme.Example.COM',
        plan: 'pro',
        mrr: 1200.5,
        ownerId: '5f0c6b1e-8a4b-4c1e-9e7f-2b1d3c4a5e6f',
        contacts: [{ name: 'Ann', email: 'Ann@Acme.example.com' }, { name: 'Bob' }],
      }),
    ).toEqual({
      name: 'Acme',
      domain: 'acme.example.com',
      plan: 'pro',
      mrr: 1200.5,
      ownerId: '5f0c6b1e-8a4b-4c1e-9e7f-2b1d3c4a5e6f',
      contacts: [
        { name: 'Ann', email: 'ann@acme.example.com' },
        { name: 'Bob', email: null },
      ],
    });
  });

  it('mrr is kept to the cent', () => {
    expect(parseCreateCustomerInput({ name: 'A', mrr: 10.456 }).mrr).toBe(10.46);
    expect(parseCreateCustomerInput({ name: 'A', mrr: 0 }).mrr).toBe(0);
  });

  it('optional fields default to null / []', () => {
    expect(parseCreateCustomerInput({ name: 'A' })).toEqual({ name: 'A', domain: null, plan: null, mrr: null, ownerId: null, contacts: [] });
  });

  it.each([
    [{ name: '' }, 'input.name'],
    [{ name: '   ' }, 'input.name'],
    [{ name: 'x'.repeat(201) }, 'input.name'],
    [{ name: 'A', domain: 'not a domain' }, 'input.domain'],
    [{ name: 'A', domain: 'localhost' }, 'input.domain'],
    [{ name: 'A', domain: 'http://acme.com' }, 'input.domain'],
    [{ name: 'A', plan: 'p'.repeat(51) }, 'input.plan'],
    [{ name: 'A', mrr: -1 }, 'input.mrr'],
    [{ name: 'A', ownerId: 'nope' }, 'input.ownerId'],
    [{ name: 'A', contacts: [{ name: 'C', email: 'not-an-email' }] }, 'input.contacts.0.email'],
    [{ name: 'A', contacts: [{ name: '' }] }, 'input.contacts.0.name'],
  ])('refuses %j at %s', (input, field) => {
    expect(fieldOf(() => parseCreateCustomerInput(input))).toBe(field);
  });
});
