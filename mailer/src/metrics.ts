import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Db } from '@cos/db';

/** The mailer's own series beside the shared process/bus/pool metrics. */
export function createMailerMetrics(registry: Registry, db: Db) {
  const queued = new Gauge({
    name: 'cos_mailer_mails',
    help: 'Mails in the outbox by status (PENDING, DEAD)',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const rows = await db
        .tx({ orgId: null }, (tx) => tx.query<{ status: string; n: string }>(`/* mailCounts */ SELECT status, count(*) AS n FROM mails WHERE status IN ('PENDING', 'DEAD') GROUP BY status`))
        .catch(() => []);
      this.reset();
      for (const s of ['PENDING', 'DEAD']) this.set({ status: s }, Number(rows.find((r) => r.status === s)?.n ?? 0));
    },
  });
  return {
    queued,
    sent: new Counter({ name: 'cos_mailer_sent_total', help: 'Mails sent', labelNames: ['kind'] as const, registers: [registry] }),
    retries: new Counter({ name: 'cos_mailer_retries_total', help: 'Failed sends scheduled for a retry', labelNames: ['kind'] as const, registers: [registry] }),
    skipped: new Counter({ name: 'cos_mailer_skipped_total', help: 'Mails not sent: recipient erased or opted out', labelNames: ['kind', 'reason'] as const, registers: [registry] }),
    dead: new Counter({ name: 'cos_mailer_dead_total', help: 'Mails dead-lettered after the last attempt', labelNames: ['kind'] as const, registers: [registry] }),
    sendDuration: new Histogram({
      name: 'cos_mailer_send_duration_seconds',
      help: 'Time to hand one mail to the transport',
      labelNames: ['outcome'] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}
export type MailerMetrics = ReturnType<typeof createMailerMetrics>;
