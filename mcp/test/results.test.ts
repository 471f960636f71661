import { describe, expect, it } from 'vitest';
import { answerToResult } from '../src/results';

const text = (r: ReturnType<typeof answerToResult>) => (r.content[0] as { text: string }).text;

describe('gateway answers → tool results', () => {
  it('data → the GraphQL response shape, as JSON text and structured content', () => {
    const r = answerToResult({ httpStatus: 200, data: { customer: { id: 'c1', name: 'Globex' } } });
    expect(r.isError).toBeUndefined();
    expect(r.structuredContent).toEqual({ data: { customer: { id: 'c1', name: 'Globex' } } });
    expect(JSON.parse(text(r))).toEqual(r.structuredContent);
  });

  it('null data without errors (an id the caller may not see) is an answer, not an error', () => {
    const r = answerToResult({ httpStatus: 200, data: { customer: null } });
    expect(r.isError).toBeUndefined();
    expect(r.structuredContent).toEqual({ data: { customer: null } });
  });

  it('a refused root field (data null) → tool error with the code first', () => {
    const r = answerToResult({
      httpStatus: 200,
      data: null,
      errors: [{ message: 'Missing scope tasks:write', path: ['createTask'], extensions: { code: 'FORBIDDEN' } }],
    });
    expect(r.isError).toBe(true);
    expect(text(r)).toBe('FORBIDDEN: Missing scope tasks:write (at createTask)');
    expect(r.structuredContent).toEqual({ errors: [{ code: 'FORBIDDEN', message: 'Missing scope tasks:write', path: ['createTask'] }] });
  });

  it('a partial answer keeps the data and lists the failed fields', () => {
    const r = answerToResult({
      httpStatus: 200,
      data: { customer: { id: 'c1', mrr: null } },
      errors: [{ message: 'no', path: ['customer', 'mrr'], extensions: { code: 'FORBIDDEN' } }],
    });
    expect(r.isError).toBeUndefined();
    expect(r.structuredContent).toEqual({ data: { customer: { id: 'c1', mrr: null } }, errors: [{ code: 'FORBIDDEN', message: 'no', path: ['customer', 'mrr'] }] });
  });

  it('request-level refusals carry their code and contract fields', () => {
    const limited = answerToResult({ httpStatus: 429, retryAfterS: 7, errors: [{ message: 'Too many requests', extensions: { code: 'RATE_LIMITED' } }] });
    expect(limited.isError).toBe(true);
    expect(text(limited)).toBe('RATE_LIMITED: Too many requests Retry after 7 s.');
    expect(limited.structuredContent).toMatchObject({ errors: [{ code: 'RATE_LIMITED', retryAfterS: 7 }] });

    const bad = answerToResult({ httpStatus: 200, data: null, errors: [{ message: 'first must be at most 100', extensions: { code: 'BAD_USER_INPUT', field: 'first' } }] });
    expect(text(bad)).toBe('BAD_USER_INPUT: first must be at most 100 (argument first)');

    const stale = answerToResult({ httpStatus: 200, data: null, errors: [{ message: 'stale', extensions: { code: 'CONFLICT', currentVersion: 4 } }] });
    expect(stale.structuredContent).toMatchObject({ errors: [{ code: 'CONFLICT', currentVersion: 4 }] });

    const unauth = answerToResult({ httpStatus: 401, data: null, errors: [{ message: 'Invalid API key', extensions: { code: 'UNAUTHENTICATED' } }] });
    expect(text(unauth)).toBe('UNAUTHENTICATED: Invalid API key');
  });

  it('an error without a code is reported as INTERNAL_SERVER_ERROR; an HTTP error without errors as GATEWAY_UNAVAILABLE', () => {
    expect(text(answerToResult({ httpStatus: 200, data: null, errors: [{ message: 'boom' }] }))).toBe('INTERNAL_SERVER_ERROR: boom');
    expect(text(answerToResult({ httpStatus: 503, data: null }))).toMatch(/^GATEWAY_UNAVAILABLE: /);
  });
});
