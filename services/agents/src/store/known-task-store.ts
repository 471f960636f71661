import type { Tx } from '@cos/db';

export interface KnownTaskRow {
  task_id: string;
  org_id: string;
  title: string;
  description: string | null;
  priority: string | null;
}

export async function upsertKnownTask(
  tx: Tx,
  t: { orgId: string; taskId: string; title: string; description: string | null; priority: string | null },
): Promise<void> {
  await tx.query(
    `/* upsertKnownTask */ INSERT INTO known_tasks (task_id, org_id, title, description, priority) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (task_id) DO UPDATE SET title = EXCLUDED.title, description = EXCLUDED.description,
       priority = EXCLUDED.priority, updated_at = now()`,
    [t.taskId, t.orgId, t.title, t.description, t.priority],
  );
}

/** Applies a TaskUpdated change set; absent keys keep their value. */
export async function updateKnownTask(
  tx: Tx,
  orgId: string,
  taskId: string,
  changes: { title?: string; description?: string | null; priority?: string },
): Promise<void> {
  await tx.query(
    `/* updateKnownTask */ UPDATE known_tasks SET
       title = CASE WHEN $3::boolean THEN $4 ELSE title END,
       description = CASE WHEN $5::boolean THEN $6 ELSE description END,
       priority = CASE WHEN $7::boolean THEN $8 ELSE priority END,
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
    ],
  );
}

export function getKnownTask(tx: Tx, orgId: string, taskId: string): Promise<KnownTaskRow | undefined> {
  return tx.one<KnownTaskRow>(
    `/* getKnownTask */ SELECT task_id, org_id, title, description, priority FROM known_tasks WHERE task_id = $1 AND org_id = $2`,
    [taskId, orgId],
  );
}
