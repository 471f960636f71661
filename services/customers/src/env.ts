import { parseEnv, envFields, z } from '@cos/config';
import { baseServiceEnv } from '@cos/service-kit';
import { parseKeyRing } from './connections/secrets';

export const customersEnv = baseServiceEnv
  .extend({
    PORT: envFields.port(4003),
    /**
     * Master keys of the connection credentials' envelope encryption: `id:base64(32 bytes),...`, the first one active
     * (wraps new data keys), the others only unwrap until re-wrapped (rotation: README). Required in production;
     * elsewhere a development key derived from INTERNAL_SECRET is used when unset.
     */
    CONNECTIONS_MASTER_KEYS: z
      .string()
      .optional()
      .superRefine((v, ctx) => {
        if (!v) return;
        try {
          parseKeyRing(v);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      }),
    /** Accept any http(s) baseUrl for pulls (tests and local fakes); off: only the providers' own https hosts. */
    CONNECTORS_ALLOW_CUSTOM_BASE_URL: envFields.bool(false),
    CONNECTORS_ENABLED: envFields.bool(true),
    CONNECTORS_POLL_MS: envFields.ms(5_000),
    CONNECTORS_CONCURRENCY: z.coerce.number().int().min(1).max(20).default(2),
    CONNECTORS_LEASE_MS: envFields.ms(60_000),
    /** Deadline of one provider API call. */
    CONNECTOR_TIMEOUT_MS: envFields.ms(10_000),
    CONNECTOR_CALL_ATTEMPTS: z.coerce.number().int().min(1).max(5).default(3),
    CONNECTOR_BREAKER_FAILURES: z.coerce.number().int().min(1).max(50).default(3),
    CONNECTOR_BREAKER_HALF_OPEN_MS: envFields.ms(60_000),
    CONNECTOR_MAX_FAILURES: z.coerce.number().int().min(1).max(100).default(10),
    CONNECTOR_BACKOFF_BASE_MS: envFields.ms(30_000),
    CONNECTOR_BACKOFF_MAX_MS: envFields.ms(3_600_000),
    /** Days the webhook delivery audit trail is kept (purged hourly by the connector runner); 0 = forever. */
    CONNECTION_DELIVERIES_RETENTION_DAYS: envFields.int(90),
    /** Largest webhook body accepted (the gateway forwards up to the same size). */
    WEBHOOK_MAX_BODY_BYTES: z.coerce.number().int().min(1_024).max(5_000_000).default(256 * 1024),
    /** Replay window of signed timestamps (Stripe t=, Zendesk, Mixpanel-shaped), seconds. */
    WEBHOOK_TOLERANCE_S: z.coerce.number().int().min(1).max(3_600).default(300),
    /** Replay window of body timestamps for providers that sign none (Intercom created_at, Segment sentAt), seconds. */
    WEBHOOK_BODY_TOLERANCE_S: z.coerce.number().int().min(60).max(7 * 86_400).default(86_400),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV === 'production' && !env.CONNECTIONS_MASTER_KEYS) {
      ctx.addIssue({ code: 'custom', path: ['CONNECTIONS_MASTER_KEYS'], message: 'required in production' });
    }
  });
export type CustomersEnv = ReturnType<typeof loadEnv>;

/** Reads process.env once (every problem reported at once, exit 1). */
export const loadEnv = () => parseEnv(customersEnv);
