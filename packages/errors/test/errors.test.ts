import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { appError, conflict, badInput, fromValidationIssues, isAppError } from '../src/index';

describe('errors', () => {
  it('carries the API.md code and contract fields', () => {
    const e = conflict('stale', 7);
    expect(e.extensions).toEqual({ code: 'CONFLICT', currentVersion: 7 });
    expect(badInput('title', 'empty').extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'title' });
  });

  it('adds an HTTP status only when asked', () => {
    expect(appError('UNAUTHENTICATED', 'x', {}, { withHttpStatus: true }).extensions.http).toEqual({ status: 401 });
    expect(appError('UNAUTHENTICATED', 'x').extensions.http).toBeUndefined();
  });

  it('tells our errors from unexpected ones', () => {
    expect(isAppError(badInput('a', 'b'))).toBe(true);
    expect(isAppError(new GraphQLError('boom'))).toBe(false);
    expect(isAppError(new Error('boom'))).toBe(false);
    expect(isAppError(appError('INTERNAL_SERVER_ERROR', 'x'))).toBe(false);
  });

  it('names the first bad field of a validation failure', () => {
    const e = fromValidationIssues([{ path: ['input', 'title'], message: 'too short' }]);
    expect(e.extensions.field).toBe('input.title');
    expect(e.extensions.code).toBe('BAD_USER_INPUT');
  });
});
