/**
 * Content sniffing by magic bytes (a small table instead of a dependency: the allow-list is short and each entry
 * is one signature). The type a client declares must equal the sniffed one, so a renamed executable or an HTML page
 * declared as `image/png` is refused before it is stored.
 */

/** Types an attachment may have. Text types have no signature: they must decode as UTF-8 without NUL bytes. */
export const ALLOWED_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf', 'text/plain', 'text/csv'] as const;
export type AllowedType = (typeof ALLOWED_TYPES)[number];

/** How many leading bytes sniffing needs (the upload path keeps this many). */
export const SNIFF_BYTES = 4096;

const startsWith = (head: Uint8Array, sig: number[], offset = 0) => head.length >= offset + sig.length && sig.every((b, i) => head[offset + i] === b);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

const SIGNATURES: Array<{ type: AllowedType; test: (h: Uint8Array) => boolean }> = [
  { type: 'image/png', test: (h) => startsWith(h, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) },
  { type: 'image/jpeg', test: (h) => startsWith(h, [0xff, 0xd8, 0xff]) },
  { type: 'image/gif', test: (h) => startsWith(h, ascii('GIF87a')) || startsWith(h, ascii('GIF89a')) },
  { type: 'image/webp', test: (h) => startsWith(h, ascii('RIFF')) && startsWith(h, ascii('WEBP'), 8) },
  { type: 'application/pdf', test: (h) => startsWith(h, ascii('%PDF-')) },
];

/** Text: valid UTF-8 (a multi-byte sequence cut at the end of `head` is tolerated) and no NUL or other C0 controls but tab/CR/LF/FF. */
function looksLikeText(head: Uint8Array, complete: boolean): boolean {
  for (const b of head) if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c) return false;
  let bytes = head;
  if (!complete) {
    // Drop a trailing partial UTF-8 sequence (at most 3 bytes) before decoding strictly.
    let cut = bytes.length;
    for (let i = bytes.length - 1; i >= Math.max(0, bytes.length - 3); i--) {
      const b = bytes[i]!;
      if ((b & 0xc0) === 0x80) continue;
      if (b >= 0xc0) cut = i;
      break;
    }
    bytes = bytes.subarray(0, cut);
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * The type of a file from its first bytes (`complete`: `head` is the whole file). Binary signatures win; otherwise
 * text, reported as the declared text type when that is one (text/csv and text/plain are indistinguishable by
 * content); null when nothing on the allow-list matches.
 */
export function sniffType(head: Uint8Array, declared: string, complete: boolean): AllowedType | null {
  for (const s of SIGNATURES) if (s.test(head)) return s.type;
  if (!looksLikeText(head, complete)) return null;
  const d = normalizeType(declared);
  return d === 'text/csv' ? 'text/csv' : 'text/plain';
}

/** `Text/Plain; charset=utf-8` → `text/plain`. */
export function normalizeType(declared: string): string {
  return declared.split(';')[0]!.trim().toLowerCase();
}

export const isAllowedType = (t: string): t is AllowedType => (ALLOWED_TYPES as readonly string[]).includes(t);

export type TypeVerdict = { ok: true; type: AllowedType } | { ok: false; code: 'TYPE_NOT_ALLOWED' | 'TYPE_MISMATCH'; message: string };

/** The declared type must be on the allow-list and equal the sniffed one. */
export function checkType(head: Uint8Array, declared: string, complete: boolean): TypeVerdict {
  const d = normalizeType(declared);
  if (!isAllowedType(d)) return { ok: false, code: 'TYPE_NOT_ALLOWED', message: `Files of type ${d || '(none)'} are not accepted (allowed: ${ALLOWED_TYPES.join(', ')})` };
  const sniffed = sniffType(head, d, complete);
  if (sniffed !== d) {
    return { ok: false, code: 'TYPE_MISMATCH', message: `The file was declared ${d} but its content is ${sniffed ?? 'not an accepted type'}` };
  }
  return { ok: true, type: sniffed };
}
