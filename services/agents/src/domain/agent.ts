import type { AgentEvent, AgentKind } from '@cos/events';

/** The seven specialists every organization gets, in display order. */
export const AGENT_CATALOG: ReadonlyArray<{ kind: AgentKind; name: string }> = [
  { kind: 'TRIAGE', name: 'Triage' },
  { kind: 'RESEARCH', name: 'Research' },
  { kind: 'SUPPORT', name: 'Support' },
  { kind: 'SUCCESS', name: 'Success' },
  { kind: 'SALES', name: 'Sales' },
  { kind: 'ENGINEERING', name: 'Engineering' },
  { kind: 'OPERATIONS', name: 'Operations' },
];

export const agentStreamId = (agentId: string) => `Agent-${agentId}`;

export type AgentCreated = Extract<AgentEvent, { type: 'AgentCreated' }>;

/**
 * Which agents an organization still lacks. Given the kinds it already has, returns one AgentCreated per missing
 * specialist (ids come from `newId`), so running it twice creates nothing the second time.
 */
export function decideMissingAgents(existingKinds: ReadonlySet<AgentKind>, newId: () => string): AgentCreated[] {
  return AGENT_CATALOG.filter((a) => !existingKinds.has(a.kind)).map((a) => ({
    type: 'AgentCreated',
    data: { agentId: newId(), name: a.name, kind: a.kind },
  }));
}
