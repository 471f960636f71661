import { badInput } from '@cos/errors';

/** Opaque keyset cursor: base64url of a JSON tuple, e.g. [createdAtIso, id]. */
export const encodeCursor = (parts: readonly (string | number)[]): string =>
  Buffer.from(JSON.stringify(parts)).toString('base64url');

export function decodeCursor(field: string, cursor: string | null | undefined): (string | number)[] | null {
  if (cursor == null) return null;
  try {
    const parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(parts) && parts.every((p) => typeof p === 'string' || typeof p === 'number')) return parts;
  } catch {
    /* fall through */
  }
  throw badInput(field, `${field} is not a valid cursor`);
}
