import { Histogram } from 'prom-client';
import { createMetrics, type Metrics } from '@cos/observability';

/** Latency buckets for a tool call (seconds): a gateway round trip, 5 ms … 30 s. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface ToolMetrics {
  /** The process registry (GET /metrics). */
  metrics: Metrics;
  /** One finished tool call; `outcome`: ok, partial, or the error code (FORBIDDEN, GATEWAY_UNAVAILABLE …). */
  observe(tool: string, outcome: string, seconds: number): void;
}

/** The MCP process's metrics: the common process registry plus `cos_mcp_tool_call_duration_seconds{tool,outcome}`. */
export function createToolMetrics(): ToolMetrics {
  const metrics = createMetrics('mcp');
  const calls = new Histogram({
    name: 'cos_mcp_tool_call_duration_seconds',
    help: 'MCP tool calls by tool and outcome (ok, partial, or the error code), including the gateway round trip',
    labelNames: ['tool', 'outcome'] as const,
    buckets: BUCKETS,
    registers: [metrics.registry],
  });
  return { metrics, observe: (tool, outcome, seconds) => calls.observe({ tool, outcome }, seconds) };
}
