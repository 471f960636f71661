import { GraphQLError, parse, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it, vi } from 'vitest';
import { appError, conflict } from '@cos/errors';
import { createLogger } from '@cos/logger';
import { subgraphUrlOverrides } from '../src/env';
import { createErrorHandling } from '../src/errors';
import { DEADLINE_GRANULARITY_MS, isTimeoutError, sharedDeadlines } from '../src/execution/http';
import { subgraphsOf } from '../src/execution/supergraph';
import { ACCOUNTS_SDL, composeSupergraph, POSTS_SDL } from './fixtures';

const mask = createErrorHandling(createLogger('gateway-unit', 'silent')).maskError;

describe('error masking', () => {
  it('keeps API.md codes and their contract fields, drops internal extensions', () => {
    const sub = new GraphQLError('Task changed', {
      path: ['updateTask'],
      extensions: { ...conflict('Task changed', 3).extensions, serviceName: 'tasks', stacktrace: ['at x'] },
    });
    const out = mask(sub, 'Unexpected error.') as GraphQLError;
    expect(out.message).toBe('Task changed');
    expect(out.path).toEqual(['updateTask']);
    expect(out.extensions).toEqual({ code: 'CONFLICT', currentVersion: 3 });
  });

  it('masks anything else as INTERNAL_SERVER_ERROR, keeping only the path', () => {
    const leaked = new GraphQLError('duplicate key value violates unique constraint "users_email_key"', {
      path: ['signUp'],
      originalError: new Error('pg'),
      extensions: { code: 'DOWNSTREAM_SERVICE_ERROR', serviceName: 'identity' },
    });
    const out = mask(leaked, 'Unexpected error.') as GraphQLError;
    expect(out.message).toBe('Unexpected error.');
    expect(out.path).toEqual(['signUp']);
    expect(out.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
    expect((mask(new TypeError('x is undefined'), 'Unexpected error.') as GraphQLError).extensions.code).toBe('INTERNAL_SERVER_ERROR');
  });

  it('a variable that does not coerce is BAD_USER_INPUT naming the variable', () => {
    const op = parse('query Q($first: Int!) { a }').definitions[0] as OperationDefinitionNode;
    const err = new GraphQLError('Variable "$first" got invalid value "x"', { nodes: op.variableDefinitions![0] });
    expect((mask(err, 'm') as GraphQLError).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
  });

  it('syntax errors become GRAPHQL_VALIDATION_FAILED, 400 only for graphql-response+json (spec flag kept)', () => {
    const err = new GraphQLError('Syntax Error: Expected Name', { extensions: { http: { status: 400, spec: true } } });
    expect((mask(err, 'm') as GraphQLError).extensions).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400, spec: true } });
    const bare = new GraphQLError('Syntax Error: Unexpected <EOF>');
    expect((mask(bare, 'm') as GraphQLError).extensions).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400, spec: true } });
  });

  it('a request that is not well-formed (yoga BAD_REQUEST) is 400 for every client', () => {
    const err = new GraphQLError('POST body sent invalid JSON.', { extensions: { code: 'BAD_REQUEST', http: { status: 400, spec: true } } });
    expect((mask(err, 'm') as GraphQLError).extensions).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } });
  });

  it('app errors wrapped by execution keep their code', () => {
    const wrapped = new GraphQLError('wrapped', { originalError: appError('FORBIDDEN', 'no') });
    expect((mask(wrapped, 'm') as GraphQLError).extensions.code).toBe('FORBIDDEN');
  });
});

describe('supergraph', () => {
  const sdl = composeSupergraph([
    { name: 'accounts', url: 'http://a:1', typeDefs: ACCOUNTS_SDL },
    { name: 'posts', url: 'http://p:2', typeDefs: POSTS_SDL },
  ]);

  it('lists the subgraphs of the supergraph with their URLs', () => {
    expect(subgraphsOf(sdl)).toEqual([
      { name: 'accounts', url: 'http://a:1/graphql' },
      { name: 'posts', url: 'http://p:2/graphql' },
    ]);
  });

  it('applies SUBGRAPH_<NAME>_URL overrides', () => {
    const overrides = subgraphUrlOverrides({ SUBGRAPH_POSTS_URL: 'http://10.0.0.5:4002/graphql', OTHER: 'x' });
    expect(overrides).toEqual({ posts: 'http://10.0.0.5:4002/graphql' });
    expect(subgraphsOf(sdl, overrides)[1]).toEqual({ name: 'posts', url: 'http://10.0.0.5:4002/graphql' });
  });
});

describe('timeouts', () => {
  it('recognises abort timeouts and undici deadline errors, not other failures', () => {
    expect(isTimeoutError(new DOMException('t', 'TimeoutError'))).toBe(true);
    expect(isTimeoutError(Object.assign(new TypeError('fetch failed'), { cause: { code: 'UND_ERR_HEADERS_TIMEOUT' } }))).toBe(true);
    expect(isTimeoutError(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }))).toBe(false);
  });

  it('shared deadlines give every fetch at least its timeout, at most one window more, as a TimeoutError', () => {
    vi.useFakeTimers();
    try {
      const deadline = sharedDeadlines(1_000);
      const first = deadline();
      vi.advanceTimersByTime(DEADLINE_GRANULARITY_MS - 1);
      const late = deadline(); // started at the end of the same window
      expect(late).toBe(first);
      vi.advanceTimersByTime(1);
      const next = deadline(); // a new window, a new signal
      expect(next).not.toBe(first);
      vi.advanceTimersByTime(1_000 - 1); // `late` has had 1000 ms
      expect(first.aborted).toBe(false);
      vi.advanceTimersByTime(1);
      expect(first.aborted).toBe(true);
      expect(next.aborted).toBe(false);
      expect(isTimeoutError(first.reason)).toBe(true);
      vi.advanceTimersByTime(DEADLINE_GRANULARITY_MS);
      expect(next.aborted).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
