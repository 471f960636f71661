import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envFields, parseEnv, z } from '@cos/config';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The MCP server's environment. Read nowhere else: main() passes the parsed values on. */
export const mcpEnvSchema = z.object({
  NODE_ENV: envFields.nodeEnv(),
  LOG_LEVEL: envFields.logLevel(),
  /** `http` (Streamable HTTP, default) or `stdio`; the command-line flags --http / --stdio win. */
  MCP_TRANSPORT: z.enum(['http', 'stdio']).default('http'),
  HOST: z.string().default('127.0.0.1'),
  /** See @cos/config envFields.shutdownDelayMs. */
  SHUTDOWN_DELAY_MS: envFields.shutdownDelayMs(),
  PORT: envFields.port(4010),
  /** The gateway's GraphQL endpoint: every tool call goes there, with the caller's credential. */
  COS_GRAPH_URL: envFields.url('http://127.0.0.1:4000/graphql'),
  /**
   * Longest wait for one gateway answer. Above the gateway's own subgraph budget (SUBGRAPH_TIMEOUT_MS, 10 s), so
   * a slow subgraph reaches the assistant as the gateway's error for that field rather than as a timeout here.
   */
  MCP_GATEWAY_TIMEOUT_MS: envFields.ms(15_000),
  /** The tools: a client's trusted-document manifest (Apollo's format). */
  MCP_MANIFEST: z.string().min(1).default(path.join(repoRoot, 'schema/persisted/mcp.json')),
  /** The supergraph (file path or http(s) URL) whose API schema types the tools' inputs. */
  SUPERGRAPH: z.string().min(1).default(path.join(repoRoot, 'schema/supergraph.graphql')),
  /** Browser origins allowed to call /mcp (comma-separated); requests with any other Origin header get 403. */
  MCP_ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((o) => o.trim()).filter(Boolean)),
  MCP_MAX_BODY_BYTES: z.coerce.number().int().positive().default(1_000_000),
  /** stdio only: the credential every tool call carries (one of them). A partner key, or a person's access token. */
  COS_API_KEY: z.string().min(1).optional(),
  COS_ACCESS_TOKEN: z.string().min(1).optional(),
});
export type McpEnv = z.infer<typeof mcpEnvSchema>;

export const loadEnv = (source: NodeJS.ProcessEnv = process.env): McpEnv => parseEnv(mcpEnvSchema, source);
