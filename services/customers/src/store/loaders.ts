/**
 * Per-request DataLoaders: one SQL statement per entity type (or child list) per request, never one per row.
 * Each batch runs in its own tenant transaction (RLS scopes it to the caller's organization).
 */
import DataLoader from 'dataloader';
import type { Db } from '@cos/db';
import type { HealthScoreView } from '../domain/health';
import { getContactsByCustomerIds, getCustomersByIds, getHealthHistories, type ContactRow, type CustomerRow } from './customer-store';
import { type BatchObserver } from '@cos/service-kit';

export interface HistoryKey {
  customerId: string;
  last: number;
}

export interface Loaders {
  customer: DataLoader<string, CustomerRow | null>;
  contacts: DataLoader<string, ContactRow[]>;
  healthHistory: DataLoader<HistoryKey, HealthScoreView[], string>;
}

/** Called with each batch's size (metrics: cos_dataloader_batch_size). */

export function createLoaders(db: Db, scope: { orgId: string; userId: string | null }, onBatch: BatchObserver = () => {}): Loaders {
  const customer = new DataLoader<string, CustomerRow | null>(async (ids) => {
    onBatch('customer', ids.length);
    const rows = await db.single(scope, (tx) => getCustomersByIds(tx, ids));
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => byId.get(id) ?? null);
  });

  const contacts = new DataLoader<string, ContactRow[]>(async (customerIds) => {
    onBatch('contacts', customerIds.length);
    const rows = await db.single(scope, (tx) => getContactsByCustomerIds(tx, customerIds));
    const grouped = new Map<string, ContactRow[]>();
    for (const r of rows) grouped.set(r.customerId, [...(grouped.get(r.customerId) ?? []), r]);
    return customerIds.map((id) => grouped.get(id) ?? []);
  });

  // Different `last` arguments in one request still share one statement: fetch the largest and cut per key.
  const healthHistory = new DataLoader<HistoryKey, HealthScoreView[], string>(
    async (keys) => {
      onBatch('healthHistory', keys.length);
      const ids = [...new Set(keys.map((k) => k.customerId))];
      const maxLast = Math.max(...keys.map((k) => k.last));
      const rows = await db.single(scope, (tx) => getHealthHistories(tx, ids, maxLast));
      const grouped = new Map<string, HealthScoreView[]>();
      for (const { customerId, ...h } of rows) grouped.set(customerId, [...(grouped.get(customerId) ?? []), h]);
      return keys.map((k) => (grouped.get(k.customerId) ?? []).slice(-k.last));
    },
    { cacheKeyFn: (k) => `${k.customerId}:${k.last}` },
  );

  return { customer, contacts, healthHistory };
}
