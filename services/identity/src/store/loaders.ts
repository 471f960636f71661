import DataLoader from 'dataloader';
import { isUuid, type Db, type Tx } from '@cos/db';
import type { Viewer } from '../parents';
import {
  membershipsByOrgIds,
  membershipsByUserIds,
  organizationsByIds,
  usersByIds,
  type MembershipRow,
  type OrganizationRow,
  type UserRow,
} from './identity-store';
import { type BatchObserver } from '@cos/service-kit';


export interface Loaders {
  user: DataLoader<string, UserRow | null>;
  organization: DataLoader<string, OrganizationRow | null>;
  membersOfOrganization: DataLoader<string, MembershipRow[]>;
  membershipsOfUser: DataLoader<string, MembershipRow[]>;
}

/**
 * Per-request, per-viewer DataLoaders: one SQL statement per entity type per batch, run in a transaction scoped
 * to the viewer so row-level security decides what is visible (a foreign organization's user resolves to null).
 */
export function createLoaders(db: Db, viewer: Viewer, onBatch: BatchObserver = () => {}): Loaders {
  const scope = { orgId: viewer.orgId, userId: viewer.userId };
  const anonymous = !viewer.orgId && !viewer.userId;

  function byId<R extends { id: string }>(name: string, fetch: (tx: Tx, ids: readonly string[]) => Promise<R[]>) {
    return new DataLoader<string, R | null>(async (keys) => {
      onBatch(name, keys.length);
      const ids = [...new Set(keys.filter(isUuid))];
      if (anonymous || ids.length === 0) return keys.map(() => null);
      const rows = await db.single(scope, (tx) => fetch(tx, ids));
      const map = new Map(rows.map((r) => [r.id, r]));
      return keys.map((k) => map.get(k) ?? null);
    });
  }

  function grouped(name: string, fetch: typeof membershipsByOrgIds, key: 'orgId' | 'userId') {
    return new DataLoader<string, MembershipRow[]>(async (keys) => {
      onBatch(name, keys.length);
      const ids = [...new Set(keys.filter(isUuid))];
      if (anonymous || ids.length === 0) return keys.map(() => []);
      const rows = await db.single(scope, (tx) => fetch(tx, ids));
      const map = new Map<string, MembershipRow[]>();
      for (const r of rows) map.set(r[key], [...(map.get(r[key]) ?? []), r]);
      return keys.map((k) => map.get(k) ?? []);
    });
  }

  return {
    user: byId<UserRow>('user', usersByIds),
    organization: byId<OrganizationRow>('organization', organizationsByIds),
    membersOfOrganization: grouped('membersOfOrganization', membershipsByOrgIds, 'orgId'),
    membershipsOfUser: grouped('membershipsOfUser', membershipsByUserIds, 'userId'),
  };
}
