/**
 * The projector: applies each stored customers event to the read-model tables, in the append's transaction
 * (and again, in order, during a rebuild). The only writer of customers, contacts, signals, health_scores and connections.
 */
import type { Tx } from '@cos/db';
import type { CustomerEvent } from '@cos/events';
import type { StoredOf } from '@cos/event-store';

export async function projectCustomerEvent(tx: Tx, e: StoredOf<CustomerEvent>): Promise<void> {
  switch (e.type) {
    case 'CustomerCreated': {
      const d = e.data;
      await tx.query(
        `/* projectCustomerCreated */ INSERT INTO customers (id, org_id, name, domain, plan, mrr, owner_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [d.customerId, e.orgId, d.name, d.domain, d.plan, d.mrr, d.ownerId, e.occurredAt],
      );
      if (d.contacts.length > 0) {
        await tx.query(
          `/* projectContacts */ INSERT INTO contacts (id, org_id, customer_id, position, name, email)
           SELECT c.id, $1, $2, c.position, c.name, c.email
           FROM unnest($3::uuid[], $4::text[], $5::text[]) WITH ORDINALITY AS c(id, name, email, position)`,
          [e.orgId, d.customerId, d.contacts.map((c) => c.id), d.contacts.map((c) => c.name), d.contacts.map((c) => c.email)],
        );
      }
      return;
    }
    case 'SignalRecorded': {
      const d = e.data;
      await tx.query(
        `/* projectSignalRecorded */ INSERT INTO signals (id, org_id, customer_id, kind, value, occurred_at, note, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [d.signalId, e.orgId, d.customerId, d.kind, d.value, d.occurredAt, d.note, e.occurredAt],
      );
      return;
    }
    case 'HealthScoreChanged': {
      const d = e.data;
      await tx.query(
        `/* projectHealthScoreChanged */ WITH h AS (
           INSERT INTO health_scores (id, org_id, customer_id, score, grade, factors, computed_at, position)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         )
         UPDATE customers SET health_score = $4, health_grade = $5, health_factors = $6, health_computed_at = $7
         WHERE id = $3`,
        [e.id, e.orgId, d.customerId, d.score, d.grade, JSON.stringify(d.factors), d.computedAt, e.globalPosition],
      );
      return;
    }
    case 'ChurnRiskFlagged':
      await tx.query(
        `/* projectChurnRiskFlagged */ UPDATE customers SET churn_risk = true, churn_episode = $2 WHERE id = $1`,
        [e.data.customerId, e.data.episode],
      );
      return;
    case 'ChurnRiskCleared':
      await tx.query(`/* projectChurnRiskCleared */ UPDATE customers SET churn_risk = false WHERE id = $1`, [e.data.customerId]);
      return;
    case 'CustomerContactErased':
      // The row (and with it its search document, a generated column) goes; the customer keeps its other contacts.
      await tx.query(`/* projectCustomerContactErased */ DELETE FROM contacts WHERE id = $1 AND customer_id = $2`, [
        e.data.contactId,
        e.data.customerId,
      ]);
      return;
    case 'ConnectionCreated': {
      const d = e.data;
      await tx.query(
        `/* projectConnectionCreated */ INSERT INTO connections (id, org_id, provider, name, config, webhook_secret_hint, api_token_hint, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
        [d.connectionId, e.orgId, d.provider, d.name, JSON.stringify(d.config), JSON.stringify(d.webhookSecretHint), d.apiTokenHint ? JSON.stringify(d.apiTokenHint) : null, e.occurredAt],
      );
      return;
    }
    case 'ConnectionSecretRotated': {
      const d = e.data;
      const column = d.secret === 'WEBHOOK_SECRET' ? 'webhook_secret_hint' : 'api_token_hint';
      await tx.query(`/* projectConnectionSecretRotated */ UPDATE connections SET ${column} = $2, updated_at = $3 WHERE id = $1`, [
        d.connectionId,
        JSON.stringify(d.hint),
        e.occurredAt,
      ]);
      return;
    }
    case 'ConnectionDeleted':
      await tx.query(`/* projectConnectionDeleted */ UPDATE connections SET deleted_at = $2, updated_at = $2 WHERE id = $1`, [e.data.connectionId, e.occurredAt]);
      return;
  }
}
