import { useEffect, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { DecideApprovalDocument, PendingApprovalsDocument } from '../__generated__/graphql';
import { useCanWrite } from '../app-context';
import { errorText, FRESH } from '../client';
import { useLiveFeeds } from '../live';

/** What agents ask for, live: on each `approvalRequested` (or approval event of a task) the list is fetched again. */
export function ApprovalsPage() {
  const { approvalsChanged } = useLiveFeeds();
  const canWrite = useCanWrite();
  const [pending, refetch] = useQuery({ query: PendingApprovalsDocument });
  const [, decide] = useMutation(DecideApprovalDocument);
  const [reasons, setReasons] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (approvalsChanged > 0) refetch(FRESH);
  }, [approvalsChanged, refetch]);

  const act = async (id: string, approve: boolean) => {
    const r = await decide({ id, approve, reason: reasons[id]?.trim() || null });
    setError(errorText(r.error) ?? null);
    refetch(FRESH);
  };
  const list = pending.data?.pendingApprovals ?? [];
  return (
    <section>
      <h1>Approvals</h1>
      {error && <p className="error">{error}</p>}
      {list.length === 0 && <p>Nothing is waiting for a decision.</p>}
      {list.map((a) => (
        <article className="card approval" key={a.id} data-testid="approval">
          <h2>
            {a.requestedBy?.name ?? 'An agent'} asks: <code>{a.action}</code>
          </h2>
          <p>
            Task: <a href="#/board">{a.task.title}</a>
          </p>
          <pre className="payload">{JSON.stringify(a.payload, null, 2)}</pre>
          {canWrite && (
            <div className="row">
              <input
                aria-label="Reason"
                placeholder="Reason (optional)"
                value={reasons[a.id] ?? ''}
                onChange={(e) => setReasons({ ...reasons, [a.id]: e.target.value })}
              />
              <button type="button" onClick={() => void act(a.id, true)}>
                Approve
              </button>
              <button type="button" className="danger" onClick={() => void act(a.id, false)}>
                Reject
              </button>
            </div>
          )}
        </article>
      ))}
    </section>
  );
}
