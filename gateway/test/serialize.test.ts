import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadGuildFixtures } from '../../bench/guild/data';
import { createAnswerStringifier, isTwoByteString, stringifyJson } from '../src/execution/executor/serialize';

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

describe('createAnswerStringifier', () => {
  const { expected } = loadGuildFixtures();

  it('tells one-byte from two-byte strings', () => {
    expect(isTwoByteString('plain ascii, é and ÿ')).toBe(false);
    expect(isTwoByteString('an em dash \u2014')).toBe(true);
    expect(isTwoByteString('\u{1F600}')).toBe(true);
    // A Latin-1 text V8 holds two-byte: a slice of a two-byte string (long enough to stay a slice).
    expect(isTwoByteString('\u2014 and then a long Latin-1 tail of text'.slice(2))).toBe(true);
    // Long strings are asked through a short slice: the form of the whole string is what is told, both ways.
    const long = 'x'.repeat(100_000);
    expect(isTwoByteString(long)).toBe(false);
    expect(isTwoByteString(`\u2014${long}`.slice(1))).toBe(true);
    expect(isTwoByteString(`${long}\u2014`)).toBe(true);
  });

  it('answers {"data":…} exactly as JSON.stringify does, one-byte for Latin-1 data', () => {
    const stringify = createAnswerStringifier();
    const text = stringify(expected);
    expect(text).toBe(JSON.stringify({ data: expected }));
    expect(isTwoByteString(text)).toBe(false);
    expect(stringify(null)).toBe('{"data":null}');
    const wide = { note: 'a \u2014 b', emoji: '\u{1F600}' };
    expect(stringify(wide)).toBe(JSON.stringify({ data: wide }));
  });

  it('switches to stringifyJson for good once an all-Latin-1 answer came out two-byte', () => {
    let checks = 0;
    // The detector says two-byte once: the stringifier must fall back and stop using (and checking) the native one.
    const stringify = createAnswerStringifier((s) => {
      checks++;
      return checks === 2 ? true : isTwoByteString(s);
    });
    expect(stringify(expected)).toBe(JSON.stringify({ data: expected }));
    expect(checks).toBe(1);
    const second = stringify(expected);
    expect(second).toBe(JSON.stringify({ data: expected }));
    expect(checks).toBe(2);
    expect(isTwoByteString(second)).toBe(false);
    expect(stringify({ a: [1, 'x'] })).toBe('{"data":{"a":[1,"x"]}}');
    expect(checks).toBe(2);
  });

  it('keeps the native text when the answer needs two-byte characters (nothing to gain by falling back)', () => {
    let checks = 0;
    const stringify = createAnswerStringifier((s) => {
      checks++;
      return isTwoByteString(s);
    });
    const wide = { name: 'caf\u00e9 \u2014 bar' };
    expect(stringify(wide)).toBe(JSON.stringify({ data: wide }));
    expect(stringify(expected)).toBe(JSON.stringify({ data: expected }));
    expect(checks).toBe(2);
  });
});
