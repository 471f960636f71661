import type { Db, Tx } from '@cos/db';
import type { StoredOf } from '@cos/event-store';
import type { IdentityEvent } from '@cos/events';

type Published = Extract<StoredOf<IdentityEvent>, { type: 'PersistedOperationsPublished' }>;

/** Projection of PersistedOperationsPublished into `persisted_operations` (runs in the append's transaction). */
export async function projectPersistedOperations(tx: Tx, e: Published): Promise<void> {
  const ops = e.data.operations;
  if (ops.length === 0) return;
  await tx.query(
    `/* projectPersistedOperationsPublished */
     INSERT INTO persisted_operations (org_id, client, id, name, type, body, published_by, published_at)
     SELECT $1, $2, o.id, o.name, o.type, o.body, $3, $4
       FROM jsonb_to_recordset($5::jsonb) AS o(id text, name text, type text, body text)
     ON CONFLICT (org_id, client, id) DO NOTHING`,
    [e.orgId, e.data.client, e.metadata.actor, e.occurredAt, JSON.stringify(ops)],
  );
}

type Revoked = Extract<StoredOf<IdentityEvent>, { type: 'PersistedOperationsRevoked' }>;

/** Projection of PersistedOperationsRevoked: the rows go (the events keep the history; audit log shows who). */
export async function projectPersistedOperationsRevoked(tx: Tx, e: Revoked): Promise<void> {
  await tx.query(
    `/* projectPersistedOperationsRevoked */ DELETE FROM persisted_operations WHERE org_id = $1 AND client = $2 AND id = ANY($3::text[])`,
    [e.orgId, e.data.client, e.data.ids],
  );
}

export interface PersistedDocument {
  id: string;
  name: string;
  body: string;
}

/**
 * The gateway's lookup: a document registered in `orgId` for `client` (or, with client null, for any client of
 * the organization — first-party callers). System role with the tenant set explicitly.
 */
export async function findPersistedOperation(
  systemDb: Db,
  q: { orgId: string; client: string | null; id: string },
): Promise<PersistedDocument | null> {
  return systemDb.tx({ orgId: q.orgId }, async (tx) => {
    const rows = await tx.query<PersistedDocument>(
      `/* findPersistedOperation */
       SELECT id, name, body FROM persisted_operations
        WHERE org_id = $1 AND id = $2 AND ($3::text IS NULL OR client = $3)
        LIMIT 1`,
      [q.orgId, q.id, q.client],
    );
    return rows[0] ?? null;
  });
}
