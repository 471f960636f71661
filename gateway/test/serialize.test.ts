import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadGuildFixtures } from '../../bench/guild/data';
import { stringifyJson } from '../src/execution/executor/serialize';

/** The native executor's response text (execution/executor/serialize.ts) must be JSON.stringify's, byte for byte. */
describe('stringifyJson', () => {
  it('writes the Guild workload answer exactly as JSON.stringify does', () => {
    const { expected } = loadGuildFixtures();
    const text = stringifyJson(expected);
    expect(text).toBe(JSON.stringify(expected));
    expect(isDeepStrictEqual(JSON.parse(text), expected)).toBe(true);
  });

  it.each([
    ['null', null],
    ['numbers', [0, -0, 1.5, -2e-7, 1e21, NaN, Infinity, -Infinity]],
    ['strings needing escapes', ['a"b', 'back\\slash', 'line\nbreak\t\u0001', '\u2028\u2029', 'é', '\u{1F600}', '\ud800 lone', 'lone \udfff']],
    ['holes and non-JSON values', [undefined, () => 1, Symbol('s'), null, true, false]],
    ['objects skipping undefined and functions', { a: undefined, b: 1, c: () => 2, d: { e: null } }],
    ['a __proto__ own key (the shaper defines it for an alias)', Object.defineProperty({}, '__proto__', { value: 1, enumerable: true })],
    ['non-plain values (toJSON, Date, null prototype)', { t: { toJSON: () => 'x' }, d: new Date(0), n: Object.assign(Object.create(null) as object, { k: 1 }) }],
    ['an aliased key that names a JSON syntax character', { 'a"b': 1, 'c\\d': [1, { '\n': 2 }] }],
  ])('%s', (_name, value) => {
    expect(stringifyJson(value)).toBe(JSON.stringify(value));
  });

  it('throws where JSON.stringify throws (BigInt)', () => {
    expect(() => stringifyJson({ n: 1n })).toThrow(TypeError);
  });
});
