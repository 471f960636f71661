import { useEffect } from 'react';
import { useQuery } from 'urql';
import { AgentsOverviewDocument } from '../__generated__/graphql';

/** The seven specialists and their latest runs, each as a timeline: created, checkpoints, approvals, outcome. */
export function AgentsPage() {
  const [q, refetch] = useQuery({ query: AgentsOverviewDocument });
  // Runs move on their own (heartbeats, checkpoints): poll gently while the page is open.
  useEffect(() => {
    const t = setInterval(() => refetch({ requestPolicy: 'network-only' }), 5_000);
    return () => clearInterval(t);
  }, [refetch]);
  return (
    <section>
      <h1>Agents</h1>
      {q.error && <p className="error">{q.error.message}</p>}
      <div className="agents">
        {q.data?.agents.map((a) => (
          <article className="card" key={a.id} data-testid="agent">
            <h2>
              {a.name} <small>{a.kind}</small>
            </h2>
            {a.runs.length === 0 && <p>No runs yet.</p>}
            {a.runs.map((r) => {
              const events = [
                { at: r.createdAt, label: `queued (attempt ${r.attempt})` },
                ...r.checkpoints.map((c) => ({ at: c.createdAt, label: `checkpoint ${c.seq}: ${summarize(c.state)}` })),
                ...r.task.approvals.filter((ap) => ap.decidedAt).map((ap) => ({ at: ap.decidedAt!, label: `${ap.action} ${ap.status.toLowerCase()}${ap.reason ? `: ${ap.reason}` : ''}` })),
              ].sort((x, y) => Date.parse(x.at) - Date.parse(y.at));
              return (
                <div className="run" key={r.id} data-testid="agent-run">
                  <p>
                    <strong>{r.task.title}</strong> <span className={`status status-${r.status}`}>{r.status}</span>
                    {r.error && <span className="error"> {r.error}</span>}
                  </p>
                  <ol className="timeline">
                    {events.map((e, i) => (
                      <li key={i}>
                        <time>{new Date(e.at).toLocaleTimeString()}</time> {e.label}
                      </li>
                    ))}
                    {r.task.approvals
                      .filter((ap) => ap.status === 'PENDING')
                      .map((ap) => (
                        <li key={ap.id} className="waiting">
                          waiting for approval: <a href="#/approvals">{ap.action}</a>
                        </li>
                      ))}
                  </ol>
                </div>
              );
            })}
          </article>
        ))}
      </div>
    </section>
  );
}

function summarize(state: unknown): string {
  const s = JSON.stringify(state);
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
}
