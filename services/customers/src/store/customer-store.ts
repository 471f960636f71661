/**
 * Reads of the customers read models. Every function takes a tenant transaction (RLS applies) and returns parsed
 * rows; the list-of-children readers take many customer ids at once (DataLoader batches, see loaders.ts).
 */
import type { Tx } from '@cos/db';
import type { HealthFactor } from '@cos/events';
import type { HealthScoreView } from '../domain/health';

/** A customer as resolvers see it (the `Customer` mapper). */
export interface CustomerRow {
  id: string;
  orgId: string;
  name: string;
  domain: string | null;
  plan: string | null;
  mrr: number | null;
  ownerId: string | null;
  createdAt: string;
  health: HealthScoreView | null;
  churnRisk: boolean;
  churnEpisode: number;
}

export interface ContactRow {
  id: string;
  customerId: string;
  name: string;
  email: string | null;
}

interface CustomerDbRow {
  id: string;
  org_id: string;
  name: string;
  domain: string | null;
  plan: string | null;
  mrr: string | null;
  owner_id: string | null;
  created_at: Date;
  health_score: number | null;
  health_grade: string | null;
  health_factors: HealthFactor[] | null;
  health_computed_at: Date | null;
  churn_risk: boolean;
  churn_episode: number;
}

const CUSTOMER_COLUMNS = `id, org_id, name, domain, plan, mrr, owner_id, created_at, health_score, health_grade, health_factors,
  health_computed_at, churn_risk, churn_episode`;

function toCustomer(r: CustomerDbRow): CustomerRow {
  return {
    id: r.id,
    orgId: r.org_id,
    name: r.name,
    domain: r.domain,
    plan: r.plan,
    mrr: r.mrr === null ? null : Number(r.mrr),
    ownerId: r.owner_id,
    createdAt: r.created_at.toISOString(),
    health:
      r.health_score === null || r.health_computed_at === null
        ? null
        : {
            score: r.health_score,
            grade: r.health_grade ?? '',
            factors: r.health_factors ?? [],
            computedAt: r.health_computed_at.toISOString(),
          },
    churnRisk: r.churn_risk,
    churnEpisode: r.churn_episode,
  };
}

/** Customers by id (missing or other-tenant ids are simply absent). */
export async function getCustomersByIds(tx: Tx, ids: readonly string[]): Promise<CustomerRow[]> {
  const rows = await tx.query<CustomerDbRow>(
    `/* getCustomersByIds */ SELECT ${CUSTOMER_COLUMNS} FROM customers WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  return rows.map(toCustomer);
}

export interface CustomerPageArgs {
  first: number;
  /** Keyset position: the (created_at, id) of the last row of the previous page. */
  after: { createdAt: string; id: string } | null;
  atRisk: boolean | null;
}

export interface CustomerPage {
  rows: CustomerRow[];
  hasNextPage: boolean;
  totalCount: number;
}

/**
 * One page of customers, newest first, with the total count of the filter, in ONE statement (the count comes from
 * a lateral join so an empty page still reports it).
 */
export async function listCustomers(tx: Tx, args: CustomerPageArgs): Promise<CustomerPage> {
  const rows = await tx.query<CustomerDbRow & { total_count: string; has_row: boolean }>(
    `/* listCustomers */ SELECT t.total_count, p.id IS NOT NULL AS has_row, p.*
     FROM (SELECT count(*) AS total_count FROM customers WHERE ($1::boolean IS NULL OR churn_risk = $1)) t
     LEFT JOIN LATERAL (
       SELECT ${CUSTOMER_COLUMNS} FROM customers
       WHERE ($1::boolean IS NULL OR churn_risk = $1)
         AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
       ORDER BY created_at DESC, id DESC
       LIMIT $4
     ) p ON true`,
    [args.atRisk, args.after?.createdAt ?? null, args.after?.id ?? null, args.first + 1],
  );
  const totalCount = Number(rows[0]?.total_count ?? 0);
  const found = rows.filter((r) => r.has_row).map(toCustomer);
  return { rows: found.slice(0, args.first), hasNextPage: found.length > args.first, totalCount };
}

/** Contacts of many customers, in the order they were given. */
export async function getContactsByCustomerIds(tx: Tx, customerIds: readonly string[]): Promise<ContactRow[]> {
  return tx.query<ContactRow>(
    `/* getContactsByCustomerIds */ SELECT id, customer_id AS "customerId", name, email
     FROM contacts WHERE customer_id = ANY($1::uuid[]) ORDER BY customer_id, position`,
    [customerIds],
  );
}

/** The last `last` health scores of each customer (a window function: one statement for all customers). */
export async function getHealthHistories(
  tx: Tx,
  customerIds: readonly string[],
  last: number,
): Promise<Array<HealthScoreView & { customerId: string }>> {
  const rows = await tx.query<{ customer_id: string; score: number; grade: string; factors: HealthFactor[]; computed_at: Date }>(
    `/* getHealthHistories */ SELECT customer_id, score, grade, factors, computed_at FROM (
       SELECT customer_id, score, grade, factors, computed_at, position,
              row_number() OVER (PARTITION BY customer_id ORDER BY position DESC) AS rn
       FROM health_scores WHERE customer_id = ANY($1::uuid[])
     ) h WHERE rn <= $2
     ORDER BY customer_id, position ASC`,
    [customerIds, last],
  );
  return rows.map((r) => ({
    customerId: r.customer_id,
    score: r.score,
    grade: r.grade,
    factors: r.factors,
    computedAt: r.computed_at.toISOString(),
  }));
}

/**
 * Serialises command handling on one stream for the rest of the transaction (all instances: the lock lives in
 * Postgres). Concurrent signals for a customer then queue instead of failing the optimistic version check.
 */
export async function lockStream(tx: Tx, streamId: string): Promise<void> {
  await tx.query(`/* lockCustomerStream */ SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [streamId]);
}
