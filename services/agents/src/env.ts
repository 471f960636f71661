import { envFields, parseEnv, z } from '@cos/config';
import { baseServiceEnv } from '@cos/service-kit';

/** The agents service's environment (read nowhere else). Supervisor and retry timings are configurable for ops and tests. */
export const agentsEnvSchema = baseServiceEnv.extend({
  PORT: envFields.port(4004),
  /** Run the lease supervisor in this process (one per deployment is enough; several are safe: SKIP LOCKED). */
  AGENTS_SUPERVISOR_ENABLED: envFields.bool(true),
  /** How often the supervisor looks for runs whose worker's lease lapsed. */
  AGENTS_SUPERVISOR_MS: envFields.ms(5_000),
  /** Attempts (lapsed leases or retryable failures) before a run is dead-lettered as FAILED. */
  AGENTS_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(3),
  /** Backoff before a re-queued run can be claimed again: full jitter up to base·2^(attempt-2), capped. */
  AGENTS_RETRY_BASE_MS: envFields.ms(2_000),
  AGENTS_RETRY_MAX_MS: envFields.ms(60_000),
});
export type AgentsEnv = z.infer<typeof agentsEnvSchema>;

export const loadEnv = (source: NodeJS.ProcessEnv = process.env): AgentsEnv => parseEnv(agentsEnvSchema, source);
