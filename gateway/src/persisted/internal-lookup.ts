import { randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The subscription bridge resolves each event through the gateway's own HTTP pipeline (yoga.fetch, in process) with
 * the subscriber's credential and a lookup query it builds from the subscribed document — which was checked against
 * the persisted-document rules when the client subscribed. This header, carrying a random token that never leaves
 * the process, tells usePersisted to let that lookup through for safelist-only callers (partners). A client cannot
 * produce it: the token is made at start and only in-process requests carry it.
 */
export const INTERNAL_LOOKUP_HEADER = 'x-cos-internal-lookup';
const token = randomBytes(32).toString('hex');
const tokenBytes = Buffer.from(token);

export const internalLookupHeaders = (): Record<string, string> => ({ [INTERNAL_LOOKUP_HEADER]: token });

export function isInternalLookup(request: Request): boolean {
  const v = request.headers.get(INTERNAL_LOOKUP_HEADER);
  if (!v) return false;
  const b = Buffer.from(v);
  return b.length === tokenBytes.length && timingSafeEqual(b, tokenBytes);
}
