import { describe, expect, it } from 'vitest';
import { decidePersistedClient, evolvePersistedClient, initialPersistedClient, type PersistedClientState } from '../src/persisted/domain';

const op = (id: string) => ({ id, name: `Op${id.slice(0, 4)}`, type: 'query' as const, body: `query Op${id.slice(0, 4)} { me { id } }` });
const a = 'a'.repeat(64);
const b = 'b'.repeat(64);

const replay = (events: ReturnType<typeof decidePersistedClient>, state: PersistedClientState = initialPersistedClient) =>
  events.reduce(evolvePersistedClient, state);

describe('PersistedClient decider', () => {
  it('revokes registered ids only (once each), and evolve forgets them so a later publish registers them again', () => {
    const published = replay(decidePersistedClient({ type: 'PublishPersistedOperations', client: 'acme', operations: [op(a), op(b)] }, initialPersistedClient));
    expect([...published.ids].sort()).toEqual([a, b]);
    expect(decidePersistedClient({ type: 'RevokePersistedOperations', client: 'acme', ids: ['c'.repeat(64)] }, published)).toEqual([]);
    const revoke = decidePersistedClient({ type: 'RevokePersistedOperations', client: 'acme', ids: [a, a] }, published);
    expect(revoke).toEqual([{ type: 'PersistedOperationsRevoked', data: { client: 'acme', ids: [a] } }]);
    const after = replay(revoke, published);
    expect([...after.ids]).toEqual([b]);
    expect(decidePersistedClient({ type: 'RevokePersistedOperations', client: 'acme', ids: [a] }, after)).toEqual([]);
    const again = decidePersistedClient({ type: 'PublishPersistedOperations', client: 'acme', operations: [op(a), op(b)] }, after);
    expect(again).toEqual([{ type: 'PersistedOperationsPublished', data: { client: 'acme', operations: [op(a)] } }]);
  });
});
