import { randomBytes } from 'node:crypto';
import { Kind, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { isTwoByteString } from '../src/execution/executor/serialize';
import { pinOneByteNames } from '../src/execution/supergraph';

const uniqueName = () => `f${randomBytes(8).toString('hex')}`;
/** A Latin-1 text V8 holds two-byte (a slice of a two-byte string), as federation-internals' printed schema is. */
const heldTwoByte = (s: string) => `\u2014${s}`.slice(1);
/** The field name of `type Query { <name>: Int }`, as graphql-js parsed it (a slice of the source text). */
const parsedFieldName = (sdl: string) => {
  const def = parse(sdl).definitions[0];
  if (def?.kind !== Kind.OBJECT_TYPE_DEFINITION) throw new Error('expected a type');
  return def.fields![0]!.name.value;
};
/** What an answer using `name` as a property key looks like to JSON.stringify. */
const keyWritesTwoByte = (name: string) => isTwoByteString(JSON.stringify({ [name]: 1 }));

describe('pinOneByteNames', () => {
  it('control: a name first used as a key from a two-byte text makes every answer with it two-byte', () => {
    const name = uniqueName();
    const text = heldTwoByte(`type Query { ${name}: Int }`);
    expect(isTwoByteString(text)).toBe(true);
    const asKey: Record<string, number> = {};
    asKey[parsedFieldName(text)] = 1;
    expect(keyWritesTwoByte(name)).toBe(true);
  });

  it('pinned names stay one-byte when the same schema is later parsed from a two-byte text', () => {
    const name = uniqueName();
    const sdl = `type Query { ${name}: Int }`;
    expect(pinOneByteNames(sdl)).toBeGreaterThan(0);
    const asKey: Record<string, number> = {};
    asKey[parsedFieldName(heldTwoByte(sdl))] = 1;
    expect(keyWritesTwoByte(name)).toBe(false);
  });

  it('pins names from a two-byte SDL as one-byte copies, and each name once', () => {
    const name = uniqueName();
    const sdl = `"""caf\u00e9 \u2014 a description"""\ntype Query { ${name}: Int }`;
    expect(isTwoByteString(sdl)).toBe(true);
    expect(pinOneByteNames(sdl)).toBeGreaterThan(0);
    expect(pinOneByteNames(sdl)).toBe(0);
    const asKey: Record<string, number> = {};
    asKey[parsedFieldName(heldTwoByte(`type Query { ${name}: Int }`))] = 1;
    expect(keyWritesTwoByte(name)).toBe(false);
  });
});
