import { Counter, type Registry } from 'prom-client';
import type { AgentStepRecord } from '@cos/events';

/**
 * What the agents service counts about the work done through the worker protocol, on the process registry
 * (GET /metrics). Counted after each commit, from the steps the workers recorded: model calls, tokens and cost per
 * agent kind and model, tool calls per tool and outcome; claims, lost leases and lease expiries.
 */
const MAX_LABELS = 100;

export function createAgentMetrics(registry: Registry) {
  const registers = [registry];
  const m = {
    claims: new Counter({ name: 'cos_agent_claims_total', help: 'Runs claimed by workers', labelNames: ['agent_kind'] as const, registers }),
    leasesLost: new Counter({
      name: 'cos_agent_leases_lost_total',
      help: 'Worker writes refused because the fencing token no longer held the run (LEASE_LOST)',
      registers,
    }),
    leasesExpired: new Counter({
      name: 'cos_agent_leases_expired_total',
      help: 'Runs whose worker lease lapsed, by outcome (requeued or dead_lettered)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    steps: new Counter({ name: 'cos_agent_steps_total', help: 'Steps recorded by workers', labelNames: ['agent_kind'] as const, registers }),
    modelCalls: new Counter({
      name: 'cos_agent_model_calls_total',
      help: 'Model calls recorded on runs',
      labelNames: ['agent_kind', 'model'] as const,
      registers,
    }),
    tokens: new Counter({
      name: 'cos_agent_model_tokens_total',
      help: 'Model tokens recorded on runs',
      labelNames: ['agent_kind', 'model', 'type'] as const,
      registers,
    }),
    cost: new Counter({
      name: 'cos_agent_model_cost_usd_total',
      help: 'Model cost in US dollars recorded on runs (as priced by the worker)',
      labelNames: ['agent_kind', 'model'] as const,
      registers,
    }),
    toolCalls: new Counter({
      name: 'cos_agent_tool_calls_total',
      help: 'Tool calls recorded on runs',
      labelNames: ['agent_kind', 'tool', 'outcome'] as const,
      registers,
    }),
  };
  // Label values reported by workers are bounded: the first MAX_LABELS distinct tool names / models, then 'other'.
  const bounded = (seen: Set<string>) => (v: string) => {
    if (seen.has(v)) return v;
    if (seen.size >= MAX_LABELS) return 'other';
    seen.add(v);
    return v;
  };
  const toolLabel = bounded(new Set());
  const modelLabel = bounded(new Set());
  return {
    ...m,
    /** One recorded step (called once its checkpoint committed). */
    step(agentKind: string, step: AgentStepRecord) {
      const model = modelLabel(step.model ?? 'none');
      m.steps.inc({ agent_kind: agentKind });
      if (step.modelCalls > 0) m.modelCalls.inc({ agent_kind: agentKind, model }, step.modelCalls);
      if (step.promptTokens > 0) m.tokens.inc({ agent_kind: agentKind, model, type: 'prompt' }, step.promptTokens);
      if (step.completionTokens > 0) m.tokens.inc({ agent_kind: agentKind, model, type: 'completion' }, step.completionTokens);
      if (step.costUsd > 0) m.cost.inc({ agent_kind: agentKind, model }, step.costUsd);
      for (const c of step.toolCalls) m.toolCalls.inc({ agent_kind: agentKind, tool: toolLabel(c.name), outcome: c.error ? 'error' : 'ok' });
    },
  };
}
export type AgentMetrics = ReturnType<typeof createAgentMetrics>;
