/**
 * Who can be assigned: the org's members (from identity events) and agents (from agents events). Written only by
 * the reactors in src/events/reactors; read when assigning.
 */
import type { Tx } from '@cos/db';
import type { AssigneeRef, Role } from '@cos/events';

export async function upsertMember(tx: Tx, m: { orgId: string; userId: string; name: string; role: Role | null }) {
  await tx.query(
    /* upsertMember */ `INSERT INTO members (org_id, user_id, name, role, active, updated_at) VALUES ($1, $2, $3, $4, true, now())
     ON CONFLICT (org_id, user_id) DO UPDATE SET name = EXCLUDED.name, role = coalesce(EXCLUDED.role, members.role),
       active = true, updated_at = now()`,
    [m.orgId, m.userId, m.name, m.role],
  );
}

export async function setMemberRole(tx: Tx, orgId: string, userId: string, role: Role) {
  await tx.query(/* setMemberRole */ `UPDATE members SET role = $3, updated_at = now() WHERE org_id = $1 AND user_id = $2`, [
    orgId,
    userId,
    role,
  ]);
}

export async function deactivateMember(tx: Tx, orgId: string, userId: string) {
  await tx.query(
    /* deactivateMember */ `INSERT INTO members (org_id, user_id, name, active, updated_at) VALUES ($1, $2, '', false, now())
     ON CONFLICT (org_id, user_id) DO UPDATE SET active = false, updated_at = now()`,
    [orgId, userId],
  );
}

/**
 * GDPR erasure: the person's name is gone from every organization's directory and they can no longer be assigned.
 * Returns the organizations they were in (system role: a person spans tenants).
 */
export async function eraseMember(tx: Tx, userId: string): Promise<string[]> {
  const rows = await tx.query<{ org_id: string }>(
    /* eraseMember */ `UPDATE members SET name = '[erased]', active = false, updated_at = now() WHERE user_id = $1 RETURNING org_id`,
    [userId],
  );
  return rows.map((r) => r.org_id);
}

export async function upsertAgent(tx: Tx, a: { orgId: string; agentId: string; name: string }) {
  await tx.query(
    /* upsertAgent */ `INSERT INTO agents_directory (org_id, agent_id, name) VALUES ($1, $2, $3)
     ON CONFLICT (org_id, agent_id) DO UPDATE SET name = EXCLUDED.name`,
    [a.orgId, a.agentId, a.name],
  );
}

/** An active member or an agent of the org with this id, or null. */
export async function findAssignee(tx: Tx, orgId: string, id: string): Promise<AssigneeRef | null> {
  const row = await tx.one<{ kind: AssigneeRef['kind'] }>(
    /* findAssignee */ `SELECT 'User' AS kind FROM members WHERE org_id = $1 AND user_id = $2 AND active
     UNION ALL SELECT 'Agent' AS kind FROM agents_directory WHERE org_id = $1 AND agent_id = $2
     LIMIT 1`,
    [orgId, id],
  );
  return row ? { id, kind: row.kind } : null;
}

/** A person who can stand in as creator of a task the service creates itself: an active OWNER, else ADMIN. */
export async function findOrgOwner(tx: Tx, orgId: string): Promise<string | null> {
  const row = await tx.one<{ user_id: string }>(
    /* findOrgOwner */ `SELECT user_id FROM members WHERE org_id = $1 AND active AND role IN ('OWNER', 'ADMIN')
     ORDER BY (role = 'OWNER') DESC, updated_at LIMIT 1`,
    [orgId],
  );
  return row?.user_id ?? null;
}

/** True only when the directory knows this person left the org (unknown people are not "inactive"). */
export async function isInactiveMember(tx: Tx, orgId: string, userId: string): Promise<boolean> {
  const row = await tx.one<{ active: boolean }>(
    /* isInactiveMember */ `SELECT active FROM members WHERE org_id = $1 AND user_id = $2`,
    [orgId, userId],
  );
  return row !== undefined && !row.active;
}
