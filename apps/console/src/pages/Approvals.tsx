import { useEffect, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { ApprovalRequestedDocument, DecideApprovalDocument, PendingApprovalsDocument } from '../__generated__/graphql';
import { useCanWrite, useLive } from '../app-context';
import { errorText, subscribeLive } from '../client';

/** What agents ask for, live: a new request arrives over `approvalRequested` and the list is fetched again. */
export function ApprovalsPage() {
  const live = useLive();
  const canWrite = useCanWrite();
  const [pending, refetch] = useQuery({ query: PendingApprovalsDocument });
  const [, decide] = useMutation(DecideApprovalDocument);
  const [reasons, setReasons] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);

  useEffect(
    () =>
      subscribeLive(
        live,
        ApprovalRequestedDocument,
        { after: null },
        () => undefined,
        () => refetch({ requestPolicy: 'network-only' }),
      ),
    [live, refetch],
  );

  const act = async (id: string, approve: boolean) => {
    const r = await decide({ id, approve, reason: reasons[id]?.trim() || null });
    setError(errorText(r.error) ?? null);
    refetch({ requestPolicy: 'network-only' });
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
