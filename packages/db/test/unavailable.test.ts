import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../src';

const err = (message: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(message), extra);

describe('isDatabaseUnavailable', () => {
  it('recognises an unreachable, restarting, shutting-down or full server', () => {
    expect(isDatabaseUnavailable(err('connect ECONNREFUSED 127.0.0.1:5432', { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isDatabaseUnavailable(err('read ECONNRESET', { code: 'ECONNRESET' }))).toBe(true);
    expect(isDatabaseUnavailable(err('the database system is not yet accepting connections', { code: '57P03' }))).toBe(true);
    expect(isDatabaseUnavailable(err('terminating connection due to administrator command', { code: '57P01' }))).toBe(true);
    expect(isDatabaseUnavailable(err('sorry, too many clients already', { code: '53300' }))).toBe(true);
    expect(isDatabaseUnavailable(err('connection failure', { code: '08006' }))).toBe(true);
    expect(isDatabaseUnavailable(err('Connection terminated unexpectedly'))).toBe(true);
    expect(isDatabaseUnavailable(err('timeout exceeded when trying to connect'))).toBe(true);
    expect(isDatabaseUnavailable(err('wrapped', { cause: err('x', { code: 'ECONNREFUSED' }) }))).toBe(true);
  });

  it('does not excuse bugs or bad statements', () => {
    expect(isDatabaseUnavailable(err('relation "x" does not exist', { code: '42P01' }))).toBe(false);
    expect(isDatabaseUnavailable(err('duplicate key value', { code: '23505' }))).toBe(false);
    expect(isDatabaseUnavailable(err('canceling statement due to statement timeout', { code: '57014' }))).toBe(false);
    expect(isDatabaseUnavailable(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(false);
    expect(isDatabaseUnavailable(null)).toBe(false);
    expect(isDatabaseUnavailable('ECONNREFUSED')).toBe(false);
  });
});
