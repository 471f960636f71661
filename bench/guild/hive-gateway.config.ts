/**
 * Hive Gateway as the Guild benchmark runs it (gateways/hive-gateway-router-runtime: `unifiedGraphHandler` from
 * @graphql-hive/router-runtime, i.e. the Rust query planner), loaded by `hive-gateway supergraph <file> -c <this>`.
 *
 * De-duplication is off by default so every gateway of bench/guild.bench.ts does the same work per request (ours
 * runs with a distinct principal per request): the suite turns inbound in-flight de-duplication on, and Hive's HTTP
 * transport de-duplicates identical subgraph queries in flight by default. HIVE_INBOUND_DEDUP=1 / HIVE_UPSTREAM_DEDUP=1
 * turn them back on (the bench's GUILD_DEDUP_ROWS=1 rows).
 */
import { defineConfig } from '@graphql-hive/gateway';
import { unifiedGraphHandler } from '@graphql-hive/router-runtime';

export const gatewayConfig = defineConfig({
  unifiedGraphHandler,
  inboundInflightRequestDeduplication: process.env.HIVE_INBOUND_DEDUP === '1',
  transportEntries: {
    '*': { options: { deduplicateInflightRequests: process.env.HIVE_UPSTREAM_DEDUP === '1' } },
  },
});
