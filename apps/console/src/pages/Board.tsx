import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import {
  AddCommentDocument,
  AssignTaskDocument,
  BoardPeopleDocument,
  BoardTasksDocument,
  ChangeTaskStatusDocument,
  CreateTaskDocument,
  TaskDetailDocument,
  UpdateTaskDocument,
  type TaskCardFragment,
  type TaskPriority,
  type TaskStatus,
} from '../__generated__/graphql';
import { useCanWrite, useSession } from '../app-context';
import { errorCode, errorText, FRESH } from '../client';
import { useLiveFeeds } from '../live';

const COLUMNS: [TaskStatus, string][] = [
  ['TODO', 'To do'],
  ['IN_PROGRESS', 'In progress'],
  ['AWAITING_APPROVAL', 'Awaiting approval'],
  ['DONE', 'Done'],
  ['CANCELLED', 'Cancelled'],
];
const PRIORITIES: TaskPriority[] = ['LOW', 'MEDIUM', 'HIGH', 'URGENT'];

interface Filters {
  assigneeId: string;
  customerId: string;
  search: string;
}

const assigneeName = (t: TaskCardFragment) => (t.assignee ? `${t.assignee.name}${t.assignee.__typename === 'Agent' ? ' (agent)' : ''}` : 'Unassigned');

export function BoardPage() {
  const canWrite = useCanWrite();
  const s = useSession()!;
  const [filters, setFilters] = useState<Filters>({ assigneeId: '', customerId: '', search: '' });
  const filter = {
    ...(filters.assigneeId ? { assigneeId: filters.assigneeId } : {}),
    ...(filters.customerId ? { customerId: filters.customerId } : {}),
    ...(filters.search.trim() ? { search: filters.search.trim() } : {}),
  };
  const [tasks, refetch] = useQuery({ query: BoardTasksDocument, variables: { filter, first: 100 } });
  const [people] = useQuery({ query: BoardPeopleDocument, variables: { orgId: s.organization.id } });
  // Tasks as the live feed last told us (newer versions win over the query's answer).
  const { tasks: liveTasks, state: liveState } = useLiveFeeds();
  const [open, setOpen] = useState<string | null>(null);

  const all = useMemo(() => {
    const byId = new Map<string, TaskCardFragment>();
    for (const e of tasks.data?.tasks.edges ?? []) byId.set(e.node.id, e.node);
    for (const [id, t] of liveTasks) {
      const q = byId.get(id);
      if (q && q.version >= t.version) continue;
      const matches =
        (!filters.assigneeId || t.assignee?.id === filters.assigneeId) &&
        (!filters.customerId || t.customer?.id === filters.customerId) &&
        (!filters.search.trim() || `${t.title} ${t.description ?? ''}`.toLowerCase().includes(filters.search.trim().toLowerCase()));
      if (q || matches) byId.set(id, t);
    }
    return [...byId.values()];
  }, [tasks.data, liveTasks, filters]);

  const members = people.data?.organization?.members ?? [];
  const agents = people.data?.agents ?? [];
  const customers = people.data?.customers.edges.map((e) => e.node) ?? [];

  return (
    <section>
      <div className="toolbar">
        <h1>Tasks</h1>
        <span className={`live ${liveState}`} data-testid="live-state">
          {liveState}
        </span>
        <input
          aria-label="Filter text"
          placeholder="Filter…"
          value={filters.search}
          onChange={(e) => setFilters({ ...filters, search: e.target.value })}
        />
        <select aria-label="Assignee filter" value={filters.assigneeId} onChange={(e) => setFilters({ ...filters, assigneeId: e.target.value })}>
          <option value="">Anyone</option>
          {members.map((m) => (
            <option key={m.user.id} value={m.user.id}>
              {m.user.name}
            </option>
          ))}
          {agents.map((a) => (
            <option key={a.id} value={a.id}>
              {a.name} (agent)
            </option>
          ))}
        </select>
        <select aria-label="Customer filter" value={filters.customerId} onChange={(e) => setFilters({ ...filters, customerId: e.target.value })}>
          <option value="">Any customer</option>
          {customers.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
        <button type="button" onClick={() => refetch(FRESH)}>
          Refresh
        </button>
      </div>
      {canWrite && <NewTask members={members} agents={agents} customers={customers} />}
      {tasks.error && <p className="error">{errorText(tasks.error)}</p>}
      <div className="board">
        {COLUMNS.map(([status, label]) => {
          const col = all.filter((t) => t.status === status);
          return (
            <div className="column" key={status} data-testid={`column-${status}`}>
              <h2>
                {label} <small>{col.length}</small>
              </h2>
              {col.map((t) => (
                <button type="button" className={`task-card prio-${t.priority}`} key={t.id} data-testid="task-card" onClick={() => setOpen(t.id)}>
                  <span className="title">{t.title}</span>
                  <span className="meta">
                    {t.priority} · {assigneeName(t)}
                    {t.customer ? ` · ${t.customer.name}` : ''}
                  </span>
                </button>
              ))}
            </div>
          );
        })}
      </div>
      {open && <TaskPanel id={open} onClose={() => setOpen(null)} members={members} agents={agents} />}
    </section>
  );
}

interface Person {
  id: string;
  name: string;
}
type MemberList = { user: Person }[];
type AgentList = (Person & { kind: string })[];

function NewTask({ members, agents, customers }: { members: MemberList; agents: AgentList; customers: Person[] }) {
  const [result, create] = useMutation(CreateTaskDocument);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const str = (k: string) => (String(f.get(k) ?? '').trim() || undefined);
    const r = await create({
      input: {
        title: String(f.get('title')),
        description: str('description'),
        priority: f.get('priority') as TaskPriority,
        assigneeId: str('assigneeId'),
        customerId: str('customerId'),
      },
    });
    setError(errorText(r.error) ?? null);
    if (!r.error) form.reset();
  };
  return (
    <form className="new-task card" onSubmit={(e) => void submit(e)}>
      <input name="title" aria-label="New task title" placeholder="New task title" required maxLength={200} />
      <input name="description" aria-label="New task description" placeholder="Description" />
      <select name="priority" aria-label="Priority" defaultValue="MEDIUM">
        {PRIORITIES.map((p) => (
          <option key={p}>{p}</option>
        ))}
      </select>
      <select name="assigneeId" aria-label="Assign to" defaultValue="">
        <option value="">Unassigned</option>
        <AssigneeOptions members={members} agents={agents} />
      </select>
      <select name="customerId" aria-label="Customer" defaultValue="">
        <option value="">No customer</option>
        {customers.map((c) => (
          <option key={c.id} value={c.id}>
            {c.name}
          </option>
        ))}
      </select>
      <button type="submit" disabled={result.fetching}>
        Create task
      </button>
      {error && <span className="error">{error}</span>}
    </form>
  );
}

function AssigneeOptions({ members, agents }: { members: MemberList; agents: AgentList }) {
  return (
    <>
      <optgroup label="People">
        {members.map((m) => (
          <option key={m.user.id} value={m.user.id}>
            {m.user.name}
          </option>
        ))}
      </optgroup>
      <optgroup label="Agents">
        {agents.map((a) => (
          <option key={a.id} value={a.id}>
            {a.name} ({a.kind})
          </option>
        ))}
      </optgroup>
    </>
  );
}

interface Draft {
  title: string;
  description: string;
  priority: TaskPriority;
}

/**
 * One task: edit (optimistic locking: the version the form was opened at is sent as expectedVersion; a CONFLICT shows
 * what changed meanwhile and offers to apply these edits on the newer version), status, assignee, comments.
 */
function TaskPanel({ id, onClose, members, agents }: { id: string; onClose: () => void; members: MemberList; agents: AgentList }) {
  const canWrite = useCanWrite();
  const [detail, refetch] = useQuery({ query: TaskDetailDocument, variables: { id }, requestPolicy: 'network-only' });
  const [, update] = useMutation(UpdateTaskDocument);
  const [, changeStatus] = useMutation(ChangeTaskStatusDocument);
  const [, assign] = useMutation(AssignTaskDocument);
  const [, comment] = useMutation(AddCommentDocument);
  // A live event newer than the fetched detail fetches it again.
  const liveVersion = useLiveFeeds().tasks.get(id)?.version;
  useEffect(() => {
    if (liveVersion !== undefined && detail.data?.task && liveVersion > detail.data.task.version) refetch(FRESH);
  }, [liveVersion, detail.data, refetch]);
  const t = detail.data?.task;
  const [draft, setDraft] = useState<Draft | null>(null);
  const [baseVersion, setBaseVersion] = useState<number | null>(null);
  const [conflict, setConflict] = useState<{ currentVersion: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [body, setBody] = useState('');

  useEffect(() => {
    if (t && draft === null) {
      setDraft({ title: t.title, description: t.description ?? '', priority: t.priority });
      setBaseVersion(t.version);
    }
  }, [t, draft]);

  if (!t || !draft || baseVersion === null) return <aside className="panel">{detail.error ? errorText(detail.error) : 'Loading…'}</aside>;

  const save = async (version: number) => {
    setError(null);
    const r = await update({ id, expectedVersion: version, input: { title: draft.title, description: draft.description || null, priority: draft.priority } });
    if (errorCode(r.error) === 'CONFLICT') {
      const currentVersion = Number(r.error!.graphQLErrors[0]!.extensions?.currentVersion);
      setConflict({ currentVersion });
      refetch(FRESH);
      return;
    }
    if (r.error) return setError(errorText(r.error) ?? 'failed');
    setConflict(null);
    setBaseVersion(r.data!.updateTask.version);
  };

  const setStatus = async (status: TaskStatus) => {
    const r = await changeStatus({ id, expectedVersion: t.version, status });
    if (errorCode(r.error) === 'CONFLICT') refetch(FRESH);
    setError(errorText(r.error) ?? null);
  };

  return (
    <aside className="panel" data-testid="task-panel">
      <button type="button" className="close" onClick={onClose} aria-label="Close">
        ×
      </button>
      <h2>{t.title}</h2>
      <p className="meta">
        version <span data-testid="task-version">{t.version}</span> · {t.status} · updated {new Date(t.updatedAt).toLocaleString()}
      </p>
      {canWrite ? (
        <form
          className="edit"
          onSubmit={(e) => {
            e.preventDefault();
            void save(baseVersion);
          }}
        >
          <input aria-label="Title" value={draft.title} onChange={(e) => setDraft({ ...draft, title: e.target.value })} maxLength={200} />
          <textarea aria-label="Description" value={draft.description} onChange={(e) => setDraft({ ...draft, description: e.target.value })} />
          <select aria-label="Edit priority" value={draft.priority} onChange={(e) => setDraft({ ...draft, priority: e.target.value as TaskPriority })}>
            {PRIORITIES.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
          <button type="submit">Save</button>
        </form>
      ) : (
        <p>{t.description}</p>
      )}
      {conflict && (
        <div className="conflict" role="alert" data-testid="conflict">
          <strong>Someone changed this task while you edited it</strong> (you started from version {baseVersion}, it is now version{' '}
          {conflict.currentVersion}). Now: “{t.title}” · {t.status} · {t.priority}
          {t.description ? ` · ${t.description}` : ''}.
          <button type="button" onClick={() => void save(conflict.currentVersion)}>
            Apply my changes to version {conflict.currentVersion}
          </button>
          <button
            type="button"
            onClick={() => {
              setDraft(null);
              setConflict(null);
            }}
          >
            Discard mine
          </button>
        </div>
      )}
      {canWrite && (
        <div className="row">
          <label>
            Status{' '}
            <select aria-label="Status" value={t.status} onChange={(e) => void setStatus(e.target.value as TaskStatus)}>
              {COLUMNS.map(([s, label]) => (
                <option key={s} value={s}>
                  {label}
                </option>
              ))}
            </select>
          </label>
          <label>
            Assignee{' '}
            <select
              aria-label="Assignee"
              value={t.assignee?.id ?? ''}
              onChange={async (e) => {
                const r = await assign({ id, assigneeId: e.target.value || null });
                setError(errorText(r.error) ?? null);
              }}
            >
              <option value="">Unassigned</option>
              <AssigneeOptions members={members} agents={agents} />
            </select>
          </label>
        </div>
      )}
      {error && <p className="error">{error}</p>}
      {t.approvals.length > 0 && (
        <>
          <h3>Approvals</h3>
          <ul>
            {t.approvals.map((a) => (
              <li key={a.id}>
                {a.action}: {a.status}
                {a.reason ? ` — ${a.reason}` : ''}
              </li>
            ))}
          </ul>
        </>
      )}
      <h3>Comments</h3>
      <ul className="comments">
        {t.comments.map((c) => (
          <li key={c.id}>
            <strong>{c.author?.name ?? 'a service'}</strong> {c.body}
          </li>
        ))}
      </ul>
      {canWrite && (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            const r = await comment({ taskId: id, body });
            setError(errorText(r.error) ?? null);
            if (!r.error) {
              setBody('');
              refetch(FRESH);
            }
          }}
        >
          <input aria-label="Comment" value={body} onChange={(e) => setBody(e.target.value)} required maxLength={10000} />
          <button type="submit">Comment</button>
        </form>
      )}
    </aside>
  );
}
