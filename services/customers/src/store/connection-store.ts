/**
 * SQL of connections: the read model (projected), the encrypted credentials, the connector's sync state, the
 * handled provider event ids and the delivery audit trail. Every function runs inside the caller's transaction:
 * tenant transactions (RLS) on request paths, the system role only for the cross-tenant lookups named so.
 */
import type { Tx } from '@cos/db';
import type { ConnectionConfig, ConnectionProvider, SecretHint } from '@cos/events';
import type { EncryptedSecret } from '../connections/secrets';

export type SecretKind = 'WEBHOOK_SECRET' | 'API_TOKEN';
export type DeliveryOutcome = 'ACCEPTED' | 'DUPLICATE' | 'IGNORED' | 'REJECTED';
export type SyncStatus = 'PENDING' | 'OK' | 'RETRYING' | 'RATE_LIMITED' | 'CIRCUIT_OPEN' | 'FAILED';

export interface ConnectionRow {
  id: string;
  orgId: string;
  provider: ConnectionProvider;
  name: string;
  config: ConnectionConfig;
  webhookSecretHint: SecretHint;
  apiTokenHint: SecretHint | null;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
}

interface RawConnection {
  id: string;
  org_id: string;
  provider: ConnectionProvider;
  name: string;
  config: ConnectionConfig;
  webhook_secret_hint: SecretHint;
  api_token_hint: SecretHint | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

const COLUMNS = 'id, org_id, provider, name, config, webhook_secret_hint, api_token_hint, created_at, updated_at, deleted_at';

const toConnection = (r: RawConnection): ConnectionRow => ({
  id: r.id,
  orgId: r.org_id,
  provider: r.provider,
  name: r.name,
  config: r.config,
  webhookSecretHint: r.webhook_secret_hint,
  apiTokenHint: r.api_token_hint,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  deletedAt: r.deleted_at?.toISOString() ?? null,
});

export async function getConnection(tx: Tx, id: string): Promise<ConnectionRow | null> {
  const r = await tx.one<RawConnection>(`/* getConnection */ SELECT ${COLUMNS} FROM connections WHERE id = $1`, [id]);
  return r ? toConnection(r) : null;
}

/** The organization's connections, newest first (deleted ones left out). */
export async function listConnections(tx: Tx): Promise<ConnectionRow[]> {
  const rows = await tx.query<RawConnection>(
    `/* listConnections */ SELECT ${COLUMNS} FROM connections WHERE deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 200`,
  );
  return rows.map(toConnection);
}

/** System role: which organization a webhook's connection id belongs to (before any tenant is known). */
export async function findConnectionAnyTenant(tx: Tx, id: string): Promise<ConnectionRow | null> {
  const r = await tx.one<RawConnection>(`/* findConnectionAnyTenant */ SELECT ${COLUMNS} FROM connections WHERE id = $1`, [id]);
  return r ? toConnection(r) : null;
}

export async function putSecret(tx: Tx, orgId: string, connectionId: string, kind: SecretKind, e: EncryptedSecret): Promise<void> {
  await tx.query(
    `/* putConnectionSecret */ INSERT INTO connection_secrets (connection_id, org_id, kind, key_id, wrapped_key, iv, ciphertext, tag, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
     ON CONFLICT (connection_id, kind) DO UPDATE SET key_id = EXCLUDED.key_id, wrapped_key = EXCLUDED.wrapped_key, iv = EXCLUDED.iv,
       ciphertext = EXCLUDED.ciphertext, tag = EXCLUDED.tag, updated_at = now()`,
    [connectionId, orgId, kind, e.keyId, e.wrappedKey, e.iv, e.ciphertext, e.tag],
  );
}

interface RawSecret {
  connection_id: string;
  kind: SecretKind;
  key_id: string;
  wrapped_key: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}
const toSecret = (r: RawSecret): EncryptedSecret => ({ keyId: r.key_id, wrappedKey: r.wrapped_key, iv: r.iv, ciphertext: r.ciphertext, tag: r.tag });

export async function getSecret(tx: Tx, connectionId: string, kind: SecretKind): Promise<EncryptedSecret | null> {
  const r = await tx.one<RawSecret>(
    `/* getConnectionSecret */ SELECT connection_id, kind, key_id, wrapped_key, iv, ciphertext, tag FROM connection_secrets WHERE connection_id = $1 AND kind = $2`,
    [connectionId, kind],
  );
  return r ? toSecret(r) : null;
}

export async function deleteSecrets(tx: Tx, connectionId: string): Promise<void> {
  await tx.query(`/* deleteConnectionSecrets */ DELETE FROM connection_secrets WHERE connection_id = $1`, [connectionId]);
}

/** System role: secrets whose data key is wrapped by another master key than `activeKeyId` (rotation). */
export async function secretsToRewrap(tx: Tx, activeKeyId: string, limit: number): Promise<Array<EncryptedSecret & { connectionId: string; kind: SecretKind }>> {
  const rows = await tx.query<RawSecret>(
    `/* secretsToRewrap */ SELECT connection_id, kind, key_id, wrapped_key, iv, ciphertext, tag FROM connection_secrets
     WHERE key_id <> $1 ORDER BY connection_id, kind LIMIT $2 FOR UPDATE SKIP LOCKED`,
    [activeKeyId, limit],
  );
  return rows.map((r) => ({ ...toSecret(r), connectionId: r.connection_id, kind: r.kind }));
}

export async function updateWrappedKey(tx: Tx, connectionId: string, kind: SecretKind, fromKeyId: string, e: EncryptedSecret): Promise<void> {
  await tx.query(
    `/* rewrapConnectionSecret */ UPDATE connection_secrets SET key_id = $4, wrapped_key = $5 WHERE connection_id = $1 AND kind = $2 AND key_id = $3`,
    [connectionId, kind, fromKeyId, e.keyId, e.wrappedKey],
  );
}

// ---------- sync state ----------

export interface SyncRow {
  connectionId: string;
  orgId: string;
  enabled: boolean;
  status: SyncStatus;
  cursor: string | null;
  intervalS: number;
  nextSyncAt: string;
  lastSyncAt: string | null;
  lastError: string | null;
  failures: number;
  itemsSynced: number;
}

interface RawSync {
  connection_id: string;
  org_id: string;
  enabled: boolean;
  status: SyncStatus;
  cursor: string | null;
  interval_s: number;
  next_sync_at: Date;
  last_sync_at: Date | null;
  last_error: string | null;
  failures: number;
  items_synced: string;
}
const SYNC_COLUMNS = 'connection_id, org_id, enabled, status, cursor, interval_s, next_sync_at, last_sync_at, last_error, failures, items_synced';
const toSync = (r: RawSync): SyncRow => ({
  connectionId: r.connection_id,
  orgId: r.org_id,
  enabled: r.enabled,
  status: r.status,
  cursor: r.cursor,
  intervalS: r.interval_s,
  nextSyncAt: r.next_sync_at.toISOString(),
  lastSyncAt: r.last_sync_at?.toISOString() ?? null,
  lastError: r.last_error,
  failures: r.failures,
  itemsSynced: Number(r.items_synced),
});

export async function insertSync(tx: Tx, orgId: string, connectionId: string, intervalS: number): Promise<void> {
  await tx.query(
    `/* insertConnectionSync */ INSERT INTO connection_sync (connection_id, org_id, interval_s, next_sync_at) VALUES ($1, $2, $3, now())`,
    [connectionId, orgId, intervalS],
  );
}

/** A new API token: the connector starts again at once (a FAILED connection is scheduled again). */
export async function resetSync(tx: Tx, connectionId: string): Promise<void> {
  await tx.query(
    `/* resetConnectionSync */ UPDATE connection_sync SET enabled = true, status = 'PENDING', failures = 0, last_error = NULL, next_sync_at = now() WHERE connection_id = $1`,
    [connectionId],
  );
}

export async function disableSync(tx: Tx, connectionId: string): Promise<void> {
  await tx.query(`/* disableConnectionSync */ UPDATE connection_sync SET enabled = false, lease_owner = NULL, lease_until = NULL WHERE connection_id = $1`, [connectionId]);
}

export async function getSyncs(tx: Tx, connectionIds: readonly string[]): Promise<SyncRow[]> {
  const rows = await tx.query<RawSync>(`/* getConnectionSyncs */ SELECT ${SYNC_COLUMNS} FROM connection_sync WHERE connection_id = ANY($1::uuid[])`, [connectionIds]);
  return rows.map(toSync);
}

/**
 * System role: leases up to `limit` due connections for `owner` (FOR UPDATE SKIP LOCKED: concurrent runners never
 * pick the same row; a lease that lapsed — its runner died — is due again).
 */
export async function claimDueSyncs(tx: Tx, owner: string, leaseMs: number, limit: number): Promise<SyncRow[]> {
  const rows = await tx.query<RawSync>(
    `/* claimDueSyncs */ UPDATE connection_sync s SET lease_owner = $1, lease_until = now() + make_interval(secs => $2::double precision / 1000)
     FROM (SELECT connection_id FROM connection_sync
           WHERE enabled AND next_sync_at <= now() AND (lease_until IS NULL OR lease_until < now())
           ORDER BY next_sync_at LIMIT $3 FOR UPDATE SKIP LOCKED) due
     WHERE s.connection_id = due.connection_id
     RETURNING s.${SYNC_COLUMNS.split(', ').join(', s.')}`,
    [owner, leaseMs, limit],
  );
  return rows.map(toSync);
}

/**
 * Stores the cursor after a committed page, in the page's transaction, fenced by the lease: false when the lease was
 * lost (another runner owns the connection now; the caller rolls the page back).
 */
export async function advanceCursor(tx: Tx, connectionId: string, owner: string, cursor: string, items: number, leaseMs: number): Promise<boolean> {
  const r = await tx.query(
    `/* advanceSyncCursor */ UPDATE connection_sync SET cursor = $3, items_synced = items_synced + $4,
       lease_until = now() + make_interval(secs => $5::double precision / 1000)
     WHERE connection_id = $1 AND lease_owner = $2 AND lease_until >= now() RETURNING connection_id`,
    [connectionId, owner, cursor, items, leaseMs],
  );
  return r.length === 1;
}

/** Ends a run: the outcome, when to run next, and the lease released. */
export async function finishSync(
  tx: Tx,
  connectionId: string,
  owner: string,
  r: { status: SyncStatus; nextInMs: number; error: string | null; failures: number | 'reset'; enabled?: boolean; synced: boolean },
): Promise<void> {
  await tx.query(
    `/* finishSync */ UPDATE connection_sync SET status = $3, next_sync_at = now() + make_interval(secs => $4::double precision / 1000),
       last_error = $5, failures = CASE WHEN $6::int IS NULL THEN 0 ELSE $6::int END, enabled = coalesce($7, enabled),
       last_sync_at = CASE WHEN $8 THEN now() ELSE last_sync_at END, lease_owner = NULL, lease_until = NULL
     WHERE connection_id = $1 AND lease_owner = $2`,
    [connectionId, owner, r.status, r.nextInMs, r.error, r.failures === 'reset' ? null : r.failures, r.enabled ?? null, r.synced],
  );
}

// ---------- idempotency and audit ----------

/** Records a provider event id as handled; false when it was handled before (a redelivery). */
export async function claimExternalEvent(tx: Tx, orgId: string, connectionId: string, externalId: string, signalId: string | null): Promise<boolean> {
  const r = await tx.query(
    `/* claimExternalEvent */ INSERT INTO connection_events (connection_id, external_id, org_id, signal_id) VALUES ($1, $2, $3, $4)
     ON CONFLICT (connection_id, external_id) DO NOTHING RETURNING external_id`,
    [connectionId, externalId, orgId, signalId],
  );
  return r.length === 1;
}

export interface DeliveryInput {
  id: string;
  orgId: string;
  connectionId: string;
  via: 'WEBHOOK' | 'SYNC';
  outcome: DeliveryOutcome;
  reason: string | null;
  externalId: string | null;
  customerId: string | null;
  signalId: string | null;
  httpStatus: number | null;
}

export async function recordDelivery(tx: Tx, d: DeliveryInput): Promise<void> {
  await tx.query(
    `/* recordDelivery */ INSERT INTO connection_deliveries (id, org_id, connection_id, via, outcome, reason, external_id, customer_id, signal_id, http_status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [d.id, d.orgId, d.connectionId, d.via, d.outcome, d.reason, d.externalId?.slice(0, 300) ?? null, d.customerId, d.signalId, d.httpStatus],
  );
}

export interface DeliveryRow {
  id: string;
  connectionId: string;
  via: 'WEBHOOK' | 'SYNC';
  outcome: DeliveryOutcome;
  reason: string | null;
  externalId: string | null;
  customerId: string | null;
  signalId: string | null;
  httpStatus: number | null;
  receivedAt: string;
}

export async function listDeliveries(tx: Tx, connectionId: string, first: number): Promise<DeliveryRow[]> {
  const rows = await tx.query<{
    id: string;
    connection_id: string;
    via: 'WEBHOOK' | 'SYNC';
    outcome: DeliveryOutcome;
    reason: string | null;
    external_id: string | null;
    customer_id: string | null;
    signal_id: string | null;
    http_status: number | null;
    received_at: Date;
  }>(
    `/* listDeliveries */ SELECT id, connection_id, via, outcome, reason, external_id, customer_id, signal_id, http_status, received_at
     FROM connection_deliveries WHERE connection_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2`,
    [connectionId, first],
  );
  return rows.map((r) => ({
    id: r.id,
    connectionId: r.connection_id,
    via: r.via,
    outcome: r.outcome,
    reason: r.reason,
    externalId: r.external_id,
    customerId: r.customer_id,
    signalId: r.signal_id,
    httpStatus: r.http_status,
    receivedAt: r.received_at.toISOString(),
  }));
}

/** The organization's customer with this (lower-case) domain, if exactly one has it. */
export async function findCustomerByDomain(tx: Tx, domain: string): Promise<string | null> {
  const rows = await tx.query<{ id: string }>(`/* findCustomerByDomain */ SELECT id FROM customers WHERE domain = $1 LIMIT 2`, [domain]);
  return rows.length === 1 ? rows[0]!.id : null;
}

export async function customerExists(tx: Tx, id: string): Promise<boolean> {
  return (await tx.query(`/* customerExists */ SELECT 1 FROM customers WHERE id = $1`, [id])).length === 1;
}

/** System role: drops delivery audit entries older than `days` (the trail is operational, bounded by retention). */
export async function purgeDeliveries(tx: Tx, days: number): Promise<number> {
  const rows = await tx.query(
    `/* purgeDeliveries */ DELETE FROM connection_deliveries WHERE received_at < now() - make_interval(days => $1) RETURNING id`,
    [days],
  );
  return rows.length;
}
