import type { Tx } from '@cos/db';

export interface KnownTaskRow {
  task_id: string;
  org_id: string;
  title: string;
  description: string | null;
  priority: string | null;
  customer_id: string | null;
}

export async function upsertKnownTask(
  tx: Tx,
  t: { orgId: string; taskId: string; title: string; description: string | null; priority: string | null; customerId: string | null },
): Promise<void> {
  await tx.query(
    `/* upsertKnownTask */ INSERT INTO known_tasks (task_id, org_id, title, description, priority, customer_id) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (task_id) DO UPDATE SET title = EXCLUDED.title, description = EXCLUDED.description,
       priority = EXCLUDED.priority, customer_id = EXCLUDED.customer_id, updated_at = now()`,
    [t.taskId, t.orgId, t.title, t.description, t.priority, t.customerId],
  );
}

/** Applies a TaskUpdated change set; absent keys keep their value. */
export async function updateKnownTask(
  tx: Tx,
  orgId: string,
  taskId: string,
  changes: { title?: string; description?: string | null; priority?: string; customerId?: string | null },
): Promise<void> {
  await tx.query(
    `/* updateKnownTask */ UPDATE known_tasks SET
       title = CASE WHEN $3::boolean THEN $4 ELSE title END,
       description = CASE WHEN $5::boolean THEN $6 ELSE description END,
       priority = CASE WHEN $7::boolean THEN $8 ELSE priority END,
       customer_id = CASE WHEN $9::boolean THEN $10::uuid ELSE customer_id END,
       updated_at = now()
     WHERE task_id = $1 AND org_id = $2`,
    [
      taskId,
      orgId,
      changes.title !== undefined,
      changes.title ?? null,
      changes.description !== undefined,
      changes.description ?? null,
      changes.priority !== undefined,
      changes.priority ?? null,
      changes.customerId !== undefined,
      changes.customerId ?? null,
    ],
  );
}

export function getKnownTask(tx: Tx, orgId: string, taskId: string): Promise<KnownTaskRow | undefined> {
  return tx.one<KnownTaskRow>(
    `/* getKnownTask */ SELECT task_id, org_id, title, description, priority, customer_id FROM known_tasks WHERE task_id = $1 AND org_id = $2`,
    [taskId, orgId],
  );
}
