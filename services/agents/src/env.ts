import { envFields, parseEnv, z } from '@cos/config';
import { baseServiceEnv } from '@cos/service-kit';

/** The agents service's environment (read nowhere else). Runner intervals are configurable for ops and tests. */
export const agentsEnvSchema = baseServiceEnv.extend({
  PORT: envFields.port(4004),
  /** Run the agent runner (claim/execute/supervise) in this process. */
  AGENTS_RUNNER_ENABLED: envFields.bool(true),
  /** Runs executed in parallel per process. */
  AGENTS_RUNNER_CONCURRENCY: z.coerce.number().int().min(1).max(32).default(2),
  /** A claim lapses this long after the last heartbeat; the supervisor then re-queues the run. */
  AGENTS_LEASE_MS: envFields.ms(30_000),
  /** Heartbeat period (keep at most a third of the lease so one missed beat does not lose it). */
  AGENTS_HEARTBEAT_MS: envFields.ms(10_000),
  AGENTS_POLL_MS: envFields.ms(1_000),
  AGENTS_SUPERVISOR_MS: envFields.ms(5_000),
  /** Attempts (crashes or failed steps) before a run is dead-lettered as FAILED. */
  AGENTS_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(3),
});
export type AgentsEnv = z.infer<typeof agentsEnvSchema>;

export const loadEnv = (source: NodeJS.ProcessEnv = process.env): AgentsEnv => parseEnv(agentsEnvSchema, source);
