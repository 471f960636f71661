import { useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import { CustomerListDocument, CustomerPageDocument, RecordSignalDocument, type SignalKind } from '../__generated__/graphql';
import { useCanWrite } from '../app-context';
import { errorText } from '../client';

export function CustomersPage() {
  const [atRisk, setAtRisk] = useState(false);
  const [after, setAfter] = useState<string | null>(null);
  const [list] = useQuery({ query: CustomerListDocument, variables: { first: 50, after, atRisk: atRisk || null } });
  const page = list.data?.customers;
  return (
    <section>
      <div className="toolbar">
        <h1>Customers</h1>
        <label>
          <input type="checkbox" checked={atRisk} onChange={(e) => (setAtRisk(e.target.checked), setAfter(null))} /> At risk only
        </label>
        <span>{page?.totalCount ?? 0} customers</span>
      </div>
      {list.error && <p className="error">{errorText(list.error)}</p>}
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Plan</th>
            <th>Health</th>
            <th>Churn risk</th>
          </tr>
        </thead>
        <tbody>
          {page?.edges.map(({ node: c }) => (
            <tr key={c.id} data-testid="customer-row">
              <td>
                <a href={`#/customers/${c.id}`}>{c.name}</a> <small>{c.domain}</small>
              </td>
              <td>{c.plan}</td>
              <td>{c.healthScore ? <span className={`grade grade-${c.healthScore.grade}`}>{c.healthScore.grade} · {c.healthScore.score}</span> : '—'}</td>
              <td>{c.churnRisk ? <span className="risk">at risk</span> : 'no'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {page?.pageInfo.hasNextPage && (
        <button type="button" onClick={() => setAfter(page.pageInfo.endCursor)}>
          Next page
        </button>
      )}
    </section>
  );
}

const SIGNALS: [SignalKind, string][] = [
  ['PRODUCT_USAGE', 'Product usage (0..1)'],
  ['SUPPORT_TICKET', 'Support ticket (severity 1..4)'],
  ['NPS', 'NPS answer (0..10)'],
  ['PAYMENT_FAILED', 'Payment failed (amount)'],
  ['LOGIN', 'Logins (count)'],
];

export function CustomerPage({ id }: { id: string }) {
  const canWrite = useCanWrite();
  const [q, refetch] = useQuery({ query: CustomerPageDocument, variables: { id } });
  const [, record] = useMutation(RecordSignalDocument);
  const [error, setError] = useState<string | null>(null);
  const c = q.data?.customer;
  if (q.error) return <p className="error">{errorText(q.error)}</p>;
  if (!c) return <p>{q.fetching ? 'Loading…' : 'No such customer.'}</p>;
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const r = await record({ customerId: id, input: { kind: f.get('kind') as SignalKind, value: Number(f.get('value')), note: String(f.get('note') || '') || null } });
    setError(errorText(r.error) ?? null);
    if (!r.error) refetch({ requestPolicy: 'network-only' });
  };
  const open = c.tasks.edges.map((e) => e.node).filter((t) => t.status !== 'DONE' && t.status !== 'CANCELLED');
  return (
    <section className="customer">
      <a href="#/customers">← Customers</a>
      <h1>
        {c.name} {c.churnRisk && <span className="risk">churn risk</span>}
      </h1>
      <p className="meta">
        {c.domain} · {c.plan ?? 'no plan'} · owner {c.owner?.name ?? '—'}
      </p>
      <div className="grid">
        <div className="card">
          <h2>
            Health{' '}
            {c.healthScore ? (
              <span className={`grade grade-${c.healthScore.grade}`} data-testid="health-grade">
                {c.healthScore.grade} · {c.healthScore.score}
              </span>
            ) : (
              'no signals yet'
            )}
          </h2>
          <HealthChart points={c.healthHistory.map((h) => ({ at: h.computedAt, score: h.score }))} />
          {c.healthScore && (
            <table className="factors">
              <tbody>
                {c.healthScore.factors.map((f) => (
                  <tr key={f.name}>
                    <td>{f.name}</td>
                    <td>{Math.round(f.value * 100)}%</td>
                    <td>weight {f.weight.toFixed(2)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div className="card">
          <h2>Signals</h2>
          {canWrite ? (
            <form onSubmit={(e) => void submit(e)}>
              <select name="kind" aria-label="Signal kind">
                {SIGNALS.map(([k, label]) => (
                  <option key={k} value={k}>
                    {label}
                  </option>
                ))}
              </select>
              <input name="value" aria-label="Signal value" type="number" step="any" required />
              <input name="note" aria-label="Note" placeholder="Note" />
              <button type="submit">Record signal</button>
              {error && <p className="error">{error}</p>}
            </form>
          ) : (
            <p>Signals feed the health score (see the factors).</p>
          )}
          <h2>Contacts</h2>
          <ul>
            {c.contacts.map((ct) => (
              <li key={ct.id}>
                {ct.name} {ct.email && <small>{ct.email}</small>}
              </li>
            ))}
          </ul>
          <h2>Open tasks</h2>
          <ul>
            {open.map((t) => (
              <li key={t.id}>
                {t.title} <small>{t.status}</small>
              </li>
            ))}
            {open.length === 0 && <li>None</li>}
          </ul>
        </div>
      </div>
    </section>
  );
}

/** Health score over time (0..100), with the grade bands' lower bounds and the churn-risk line at 40. */
export function HealthChart({ points }: { points: { at: string; score: number }[] }) {
  const W = 560;
  const H = 200;
  const pad = 28;
  if (points.length === 0) return <p>No history yet.</p>;
  const sorted = [...points].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const t0 = Date.parse(sorted[0]!.at);
  const t1 = Math.max(Date.parse(sorted.at(-1)!.at), t0 + 1);
  const x = (at: string) => (sorted.length === 1 ? W / 2 : pad + ((Date.parse(at) - t0) / (t1 - t0)) * (W - 2 * pad));
  const y = (score: number) => H - pad - (score / 100) * (H - 2 * pad);
  const path = sorted.map((p) => `${x(p.at).toFixed(1)},${y(p.score).toFixed(1)}`).join(' ');
  return (
    <svg className="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Health score history" data-testid="health-chart">
      {[80, 65, 50, 40].map((v) => (
        <g key={v}>
          <line x1={pad} x2={W - pad} y1={y(v)} y2={y(v)} className={v === 40 ? 'risk-line' : 'band'} />
          <text x={4} y={y(v) + 4}>
            {v}
          </text>
        </g>
      ))}
      <polyline points={path} className="line" />
      {sorted.map((p, i) => (
        <circle key={i} cx={x(p.at)} cy={y(p.score)} r={3.5} data-testid="health-point">
          <title>
            {new Date(p.at).toLocaleString()}: {p.score}
          </title>
        </circle>
      ))}
    </svg>
  );
}
