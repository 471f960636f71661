import type { Tx } from '@cos/db';
import type { AgentKind } from '@cos/events';

export interface AgentRow {
  id: string;
  org_id: string;
  name: string;
  kind: AgentKind;
  created_at: Date;
}

const COLS = 'id, org_id, name, kind, created_at';

export function listAgents(tx: Tx): Promise<AgentRow[]> {
  return tx.query<AgentRow>(`/* listAgents */ SELECT ${COLS} FROM agents ORDER BY created_at, kind`);
}

export function getAgentsByIds(tx: Tx, ids: readonly string[]): Promise<AgentRow[]> {
  return tx.query<AgentRow>(`/* getAgentsByIds */ SELECT ${COLS} FROM agents WHERE id = ANY($1::uuid[])`, [ids]);
}

/** Kinds an organization already has (system role: pass the org explicitly). */
export async function agentKindsOfOrg(tx: Tx, orgId: string): Promise<Set<AgentKind>> {
  const rows = await tx.query<{ kind: AgentKind }>(`/* agentKindsOfOrg */ SELECT kind FROM agents WHERE org_id = $1`, [orgId]);
  return new Set(rows.map((r) => r.kind));
}

export function getAgentInOrg(tx: Tx, orgId: string, agentId: string): Promise<AgentRow | undefined> {
  return tx.one<AgentRow>(`/* getAgentInOrg */ SELECT ${COLS} FROM agents WHERE id = $1 AND org_id = $2`, [agentId, orgId]);
}
