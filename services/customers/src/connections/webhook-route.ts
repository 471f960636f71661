/**
 * `POST /webhooks/<provider>/<connectionId>`: a provider's delivery, verified where the raw body and the secret are.
 *
 * Order: method → path → size (Content-Length, then counted while reading) → connection (system-role lookup of its
 * organization; unknown, deleted or another provider's → 404) → signature and replay window → JSON → mapping →
 * one tenant transaction (idempotency claim, signal through the command path, audit entry) → 200 only after COMMIT.
 * Every refusal is a 4xx JSON `{ "error": { "code", "message" } }` with a stable code and nothing written but the
 * audit entry (rejections of a known connection are audited, at most REJECTION_AUDIT_PER_MINUTE per connection so a
 * flood of forged deliveries cannot fill the table; the rest are counted in metrics and logged).
 */
import { randomUUID } from 'node:crypto';
import type { Db } from '@cos/db';
import { isUuid } from '@cos/db';
import type { ConnectionProvider } from '@cos/events';
import type { Logger } from '@cos/logger';
import { readBodyCapped } from '@cos/service-kit';
import { WEBHOOK_PATH_OF } from '../domain/connection';
import { findConnectionAnyTenant, getSecret, recordDelivery } from '../store/connection-store';
import { secretAad, type ConnectionsConfig } from '../commands/connection-commands';
import { ingestMapped, type IngestResult } from './ingest';
import { mapWebhook, parseJson, verifySignature, type RejectCode } from './providers';
import { decryptSecret } from './secrets';
import { withConflictRetry } from '../commands/customer-commands';

export const WEBHOOK_PREFIX = '/webhooks/';

export type WebhookErrorCode = RejectCode | 'METHOD_NOT_ALLOWED' | 'CONNECTION_NOT_FOUND' | 'PAYLOAD_TOO_LARGE' | 'INTERNAL_SERVER_ERROR';

export interface WebhookRouteOptions {
  db: Db;
  /** System role: finds a connection's organization from its id (no tenant yet). */
  systemDb: Db;
  log: Logger;
  connections: ConnectionsConfig;
  maxBodyBytes: number;
  toleranceS: number;
  bodyToleranceS: number;
  /** Metrics hook: one call per delivery with its outcome or refusal code. */
  onDelivery?: (provider: string, outcome: string) => void;
}

const REJECTION_AUDIT_PER_MINUTE = 30;
const STATUS: Record<WebhookErrorCode, number> = {
  METHOD_NOT_ALLOWED: 405,
  CONNECTION_NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  MISSING_SIGNATURE: 401,
  INVALID_SIGNATURE: 401,
  TIMESTAMP_OUT_OF_TOLERANCE: 401,
  MALFORMED_PAYLOAD: 400,
  INTERNAL_SERVER_ERROR: 500,
};
const PROVIDER_OF_PATH = new Map(Object.entries(WEBHOOK_PATH_OF).map(([p, seg]) => [seg, p as ConnectionProvider]));

const fail = (code: WebhookErrorCode, message: string, headers: Record<string, string> = {}) =>
  Response.json({ error: { code, message } }, { status: STATUS[code], headers });


export function createWebhookRoute(opts: WebhookRouteOptions) {
  const rejectionsAudited = new Map<string, { minute: number; count: number }>();
  const mayAuditRejection = (connectionId: string) => {
    const minute = Math.floor(Date.now() / 60_000);
    const e = rejectionsAudited.get(connectionId);
    if (!e || e.minute !== minute) {
      if (rejectionsAudited.size > 10_000) rejectionsAudited.clear();
      rejectionsAudited.set(connectionId, { minute, count: 1 });
      return true;
    }
    e.count += 1;
    return e.count <= REJECTION_AUDIT_PER_MINUTE;
  };

  return async function handleWebhook(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const [segment, connectionId, ...rest] = url.pathname.slice(WEBHOOK_PREFIX.length).split('/');
    const provider = segment ? PROVIDER_OF_PATH.get(segment) : undefined;
    const metric = (outcome: string) => opts.onDelivery?.(provider ?? 'unknown', outcome);
    if (req.method !== 'POST') {
      metric('METHOD_NOT_ALLOWED');
      return fail('METHOD_NOT_ALLOWED', 'Webhooks are POSTed', { allow: 'POST' });
    }
    if (!provider || !isUuid(connectionId) || rest.length > 0) {
      metric('CONNECTION_NOT_FOUND');
      return fail('CONNECTION_NOT_FOUND', 'No such webhook endpoint');
    }
    const length = req.headers.get('content-length');
    const body = length !== null && (!/^\d+$/.test(length) || Number(length) > opts.maxBodyBytes) ? null : await readBodyCapped(req, opts.maxBodyBytes);

    let connection;
    try {
      connection = await opts.systemDb.withClient((tx) => findConnectionAnyTenant(tx, connectionId));
    } catch (err) {
      opts.log.error({ err, connectionId }, 'webhook: connection lookup failed');
      metric('INTERNAL_SERVER_ERROR');
      return fail('INTERNAL_SERVER_ERROR', 'Try again later');
    }
    if (!connection || connection.deletedAt || connection.provider !== provider) {
      opts.log.warn({ connectionId, provider }, 'webhook for an unknown connection');
      metric('CONNECTION_NOT_FOUND');
      return fail('CONNECTION_NOT_FOUND', 'No such webhook endpoint');
    }
    const tenant = { orgId: connection.orgId };

    const refuse = async (code: WebhookErrorCode, message: string, externalId: string | null = null) => {
      metric(code);
      opts.log.warn({ connectionId, provider, code }, 'webhook refused');
      if (mayAuditRejection(connectionId)) {
        await opts.db
          .tx(tenant, (tx) =>
            recordDelivery(tx, {
              id: randomUUID(),
              orgId: connection.orgId,
              connectionId,
              via: 'WEBHOOK',
              outcome: 'REJECTED',
              reason: code,
              externalId,
              customerId: null,
              signalId: null,
              httpStatus: STATUS[code],
            }),
          )
          .catch((err: unknown) => opts.log.error({ err, connectionId }, 'webhook: could not audit a refusal'));
      }
      return fail(code, message);
    };

    if (!body) return refuse('PAYLOAD_TOO_LARGE', `Body larger than ${opts.maxBodyBytes} bytes`);
    let secret: string;
    try {
      const encrypted = await opts.db.tx(tenant, (tx) => getSecret(tx, connectionId, 'WEBHOOK_SECRET'));
      if (!encrypted) return fail('CONNECTION_NOT_FOUND', 'No such webhook endpoint');
      secret = decryptSecret(opts.connections.keyRing, encrypted, secretAad(connectionId, 'WEBHOOK_SECRET'));
    } catch (err) {
      opts.log.error({ err, connectionId }, 'webhook: the signing secret could not be read');
      metric('INTERNAL_SERVER_ERROR');
      return fail('INTERNAL_SERVER_ERROR', 'Try again later');
    }

    const now = new Date();
    const verdict = verifySignature(provider, req.headers, body, secret, { now, toleranceS: opts.toleranceS, bodyToleranceS: opts.bodyToleranceS });
    if (!verdict.ok) return refuse(verdict.code, verdict.message);
    const json = parseJson(body);
    if (!json) return refuse('MALFORMED_PAYLOAD', 'The body is not a JSON object');
    const mapped = mapWebhook(provider, json, now);
    if (!mapped.ok) return refuse('MALFORMED_PAYLOAD', mapped.message);

    let result: IngestResult;
    try {
      const correlationId = req.headers.get('x-request-id') ?? randomUUID();
      result = await withConflictRetry(opts.log, connectionId, () =>
        opts.db.tx(tenant, (tx) => ingestMapped(tx, { orgId: connection.orgId, connectionId, provider, via: 'WEBHOOK' }, mapped, correlationId)),
      );
    } catch (err) {
      // Nothing committed: the provider retries.
      opts.log.error({ err, connectionId }, 'webhook: ingesting failed');
      metric('INTERNAL_SERVER_ERROR');
      return fail('INTERNAL_SERVER_ERROR', 'Try again later');
    }
    metric(result.outcome);
    return Response.json({
      status: result.outcome.toLowerCase(),
      eventId: result.externalId,
      ...(result.reason ? { reason: result.reason } : {}),
      ...(result.signalId ? { signalId: result.signalId } : {}),
    });
  };
}
