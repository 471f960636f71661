import v8 from 'node:v8';

/**
 * The response text of an answer, equal to `JSON.stringify(value)` byte for byte, built so that it is a flat
 * one-byte string whenever the data is Latin-1.
 *
 * Why: V8 writes a JSON.stringify output in two-byte form as soon as one property key is a two-byte string, and
 * response keys are V8's internalized names, which can be two-byte (an internalized copy first made from a two-byte
 * source keeps that form; it happened in the gateway process for `price`, `upc`, `inStock`, … on the Guild bench:
 * @apollo/gateway's schema build parses a printed schema text V8 holds two-byte). An 87 KB answer then becomes a
 * 175 KB two-byte string in the large-object space: flattening it (Buffer.byteLength for Content-Length) and encoding
 * it to UTF-8 (the socket write) took ~24% of the gateway's CPU on that workload. Here keys are written from one-byte
 * copies made once per name, and the parts are joined once.
 *
 * Since the gateway interns the supergraph's names one-byte before @apollo/gateway sees them (supergraph.ts
 * pinOneByteNames), answers go through V8's own JSON.stringify (createAnswerStringifier) and this is the fallback
 * for a process where a name was interned two-byte anyway.
 */
export function stringifyJson(value: unknown): string {
  return write(value);
}

/** Length of the probe slice: above V8's minimum for a sliced string (13), below which it copies. */
const SLICE_PROBE = 16;

/** A character JSON text can only hold in two-byte form. */
const NON_LATIN1 = /[\u0100-\uffff]/;

/**
 * Whether V8 holds `s` in two-byte form (ValueSerializer's tag: `"` one-byte, `c` two-byte, after alignment padding).
 * A long string is asked through a slice of its first SLICE_PROBE characters: V8 makes that a sliced string over
 * the same characters (kept in their form) instead of copying, so an 87 KB answer is not copied into a buffer to
 * learn one bit (it was 5 % of the gateway's allocation on the Guild workload).
 */
export function isTwoByteString(s: string): boolean {
  const bytes = v8.serialize(s.length > SLICE_PROBE ? s.slice(0, SLICE_PROBE) : s);
  let i = 2; // version header
  while (bytes[i] === 0) i++;
  return bytes[i] === 0x63;
}

/**
 * The response text `{"data":…}` of an answer: V8's JSON.stringify (native: ~30 % faster than stringifyJson here and
 * no string rope to collect), unless it has been seen to write an answer whose characters are all Latin-1 in
 * two-byte form — then, for the rest of the process's life, stringifyJson (property names stay internalized, so a
 * two-byte name stays two-byte). A two-byte answer with characters beyond Latin-1 is two-byte either way.
 */
export function createAnswerStringifier(isTwoByte: (s: string) => boolean = isTwoByteString): (data: unknown) => string {
  let twoByteNames = false;
  return (data) => {
    if (!twoByteNames) {
      const text = JSON.stringify({ data });
      if (!isTwoByte(text) || NON_LATIN1.test(text)) return text;
      twoByteNames = true;
    }
    return `{"data":${stringifyJson(data)}}`;
  };
}

/** `"name":` per property name, as a one-byte string when the name is Latin-1 (bounded: names come from documents). */
const keyParts = new Map<string, string>();
const KEY_PARTS_MAX = 10_000;

function keyPart(key: string): string {
  let part = keyParts.get(key);
  if (part === undefined) {
    part = latin1Copy(`${JSON.stringify(key)}:`);
    if (keyParts.size < KEY_PARTS_MAX) keyParts.set(key, part);
  }
  return part;
}

/** A fresh one-byte copy of a Latin-1 string (never internalized, so V8 keeps this form); others unchanged. */
function latin1Copy(s: string): string {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return s;
  return Buffer.from(s, 'latin1').toString('latin1');
}

const hasOwn = Object.prototype.hasOwnProperty;
/** What JSON.stringify escapes in a string: quote, backslash, control characters, (lone) surrogates. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be found
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

// Built by concatenation: V8 keeps a rope of the pieces and flattens it once (one-byte when every piece is).
function write(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      // undefined, functions, symbols, bigints: whatever JSON.stringify does with them (including throwing).
      return JSON.stringify(value) ?? 'null';
  }
  const obj = value as Record<string, unknown>;
  if (Array.isArray(obj)) {
    let out = '[';
    for (let i = 0; i < obj.length; i++) {
      if (i > 0) out += ',';
      const item: unknown = obj[i];
      out += item === undefined || typeof item === 'function' || typeof item === 'symbol' ? 'null' : write(item);
    }
    return `${out}]`;
  }
  const proto: unknown = Object.getPrototypeOf(obj);
  if ((proto !== Object.prototype && proto !== null) || typeof obj.toJSON === 'function') return JSON.stringify(obj);
  let out = '{';
  let first = true;
  for (const key in obj) {
    if (!hasOwn.call(obj, key)) continue;
    const v = obj[key];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    out += first ? keyPart(key) : `,${keyPart(key)}`;
    first = false;
    out += write(v);
  }
  return `${out}}`;
}
