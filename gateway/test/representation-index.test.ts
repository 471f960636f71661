import { describe, expect, it } from 'vitest';
import { RepresentationIndex } from '../src/execution/representation-index';

/** Positions the index gives a list of representations, in order (a new one gets its own index in the list). */
const positions = (reps: Record<string, unknown>[]) => {
  const index = new RepresentationIndex();
  return reps.map((rep, i) => {
    const at = index.positionOf(rep, i);
    return at < 0 ? i : at;
  });
};

describe('RepresentationIndex', () => {
  it('finds an equal flat representation, whatever object holds it', () => {
    expect(positions([{ __typename: 'User', id: 'u1' }, { __typename: 'User', id: 'u2' }, { __typename: 'User', id: 'u1' }])).toEqual([0, 1, 0]);
    expect(positions([{ __typename: 'P', upc: '1', price: 899, weight: null }, { __typename: 'P', upc: '1', price: 899, weight: null }])).toEqual([0, 0]);
  });

  it('tells representations apart as their JSON texts differ, up to the order of their fields', () => {
    const reps = [
      { __typename: 'P', upc: '1' },
      { __typename: 'P', upc: 1 }, // "1" is not 1
      { __typename: 'P', upc: true },
      { __typename: 'P', upc: 'true' },
      { __typename: 'P', upc: null },
      { __typename: 'P', upc: 'null' },
      { __typename: 'Q', upc: '1' }, // another type
      { __typename: 'P', id: '1' }, // another key name
      { __typename: 'P' }, // a prefix of the first
      { __typename: 'P', upc: '1', extra: 0 }, // the first plus a field
    ];
    expect(positions(reps)).toEqual(reps.map((_, i) => i));
    expect(positions([{ n: 0 }, { n: -0 }])).toEqual([0, 0]); // JSON writes both as 0
  });

  it('takes the same fields in another order for the same entity, and a shared key value for nothing', () => {
    // Filed under their first value other than __typename: equal there, told apart by the rest.
    expect(positions([{ __typename: 'P', upc: '1' }, { upc: '1', __typename: 'P' }])).toEqual([0, 0]);
    const reps = [
      { __typename: 'User', id: '1' },
      { __typename: 'Agent', id: '1' },
      { __typename: 'User', id: '1', org: 'o2' },
      { __typename: 'Agent', id: '1' },
      { __typename: 'User', id: '1' },
      { __typename: 'User', id: '1', org: 'o2' },
    ];
    expect(positions(reps)).toEqual([0, 1, 2, 1, 0, 2]);
    expect(positions([{ __typename: 'T' }, { __typename: 'U' }, { __typename: 'T' }])).toEqual([0, 1, 0]);
  });

  it('keys nested representations by their JSON text, apart from flat ones', () => {
    const nested = { __typename: 'T', id: '1', org: { id: 'o1' } };
    expect(positions([nested, { ...nested, org: { id: 'o1' } }, { ...nested, org: { id: 'o2' } }])).toEqual([0, 0, 2]);
    expect(positions([{ __typename: 'T', ids: ['a', 'b'] }, { __typename: 'T', ids: ['a', 'b'] }, { __typename: 'T', ids: ['a'] }])).toEqual([0, 0, 2]);
    // A key that JSON would drop (undefined) sends the representation to the JSON map: never merged with a flat one.
    expect(positions([{ __typename: 'T', id: '1' }, { __typename: 'T', id: '1', x: undefined }])).toEqual([0, 1]);
  });

  it('finds representations whose key is __proto__ or other Object.prototype names', () => {
    const odd = JSON.parse('{"__typename":"T","__proto__":"x","constructor":"y"}') as Record<string, unknown>;
    expect(positions([odd, JSON.parse('{"__typename":"T","__proto__":"x","constructor":"y"}') as Record<string, unknown>, { __typename: 'T' }])).toEqual([0, 0, 2]);
  });
});
