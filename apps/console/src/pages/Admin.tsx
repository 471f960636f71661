import { useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import {
  AdminOverviewDocument,
  ChangeRoleDocument,
  CreateApiKeyDocument,
  CreateServiceAccountDocument,
  InviteMemberDocument,
  RevokeApiKeyDocument,
  type Role,
} from '../__generated__/graphql';
import { useSession } from '../app-context';
import { errorText, FRESH } from '../client';

const ROLES: Role[] = ['OWNER', 'ADMIN', 'MEMBER', 'VIEWER'];
const READ_SCOPES = ['tasks:read', 'customers:read', 'agents:read', 'org:read'];

export function AdminPage() {
  const s = useSession()!;
  const [q, refetch] = useQuery({ query: AdminOverviewDocument, variables: { orgId: s.organization.id } });
  const [, changeRole] = useMutation(ChangeRoleDocument);
  const [, invite] = useMutation(InviteMemberDocument);
  const [, createKey] = useMutation(CreateApiKeyDocument);
  const [, createService] = useMutation(CreateServiceAccountDocument);
  const [, revoke] = useMutation(RevokeApiKeyDocument);
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const again = () => refetch(FRESH);
  const org = q.data?.organization;

  const onInvite = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const r = await invite({ email: String(f.get('email')), name: String(f.get('name')), role: f.get('role') as Role });
    setError(errorText(r.error) ?? null);
    if (!r.error) {
      form.reset();
      again();
    }
  };
  const onKey = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const name = String(f.get('name'));
    const r =
      f.get('kind') === 'service'
        ? await createService({ name, scopes: f.getAll('scopes').map(String) }).then((x) => ({ error: x.error, created: x.data?.createServiceAccount }))
        : await createKey({ name, scopes: f.getAll('scopes').map(String) }).then((x) => ({ error: x.error, created: x.data?.createApiKey }));
    setError(errorText(r.error) ?? null);
    if (r.created) {
      setSecret({ name, secret: r.created.secret });
      form.reset();
      again();
    }
  };

  return (
    <section>
      <h1>Admin · {org?.name}</h1>
      {(error || q.error) && <p className="error">{error ?? errorText(q.error)}</p>}
      <div className="grid">
        <div className="card">
          <h2>Members</h2>
          <table>
            <tbody>
              {org?.members.map((m) => (
                <tr key={m.user.id}>
                  <td>{m.user.name}</td>
                  <td>{m.user.email}</td>
                  <td>
                    <select
                      aria-label={`Role of ${m.user.name}`}
                      value={m.role}
                      onChange={async (e) => {
                        const r = await changeRole({ userId: m.user.id, role: e.target.value as Role });
                        setError(errorText(r.error) ?? null);
                        again();
                      }}
                    >
                      {ROLES.map((r) => (
                        <option key={r}>{r}</option>
                      ))}
                    </select>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <form onSubmit={(e) => void onInvite(e)}>
            <input name="name" aria-label="Invitee name" placeholder="Name" required />
            <input name="email" aria-label="Invitee email" type="email" placeholder="Email" required />
            <select name="role" aria-label="Invitee role" defaultValue="MEMBER">
              {ROLES.map((r) => (
                <option key={r}>{r}</option>
              ))}
            </select>
            <button type="submit">Invite</button>
          </form>
        </div>
        <div className="card">
          <h2>API keys and service accounts</h2>
          {secret && (
            <div className="secret" role="alert" data-testid="secret">
              Secret of <strong>{secret.name}</strong>, shown once — copy it now: <code>{secret.secret}</code>
              <button type="button" onClick={() => setSecret(null)}>
                I have copied it
              </button>
            </div>
          )}
          <table>
            <tbody>
              {org?.apiKeys.map((k) => (
                <tr key={k.id} className={k.revokedAt ? 'revoked' : ''}>
                  <td>{k.name}</td>
                  <td>{k.kind}</td>
                  <td>{k.scopes.join(', ')}</td>
                  <td>{k.lastUsedAt ? `used ${new Date(k.lastUsedAt).toLocaleString()}` : 'never used'}</td>
                  <td>
                    {k.revokedAt ? (
                      'revoked'
                    ) : (
                      <button
                        type="button"
                        className="danger"
                        onClick={async () => {
                          const r = await revoke({ id: k.id });
                          setError(errorText(r.error) ?? null);
                          again();
                        }}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <form onSubmit={(e) => void onKey(e)}>
            <input name="name" aria-label="Key name" placeholder="Name (a partner key's name is its client)" required />
            <select name="kind" aria-label="Key kind" defaultValue="partner">
              <option value="partner">Partner API key</option>
              <option value="service">Service account (agent worker)</option>
            </select>
            {READ_SCOPES.map((sc) => (
              <label key={sc}>
                <input type="checkbox" name="scopes" value={sc} defaultChecked={sc === 'tasks:read'} /> {sc}
              </label>
            ))}
            <button type="submit">Create</button>
          </form>
        </div>
      </div>
      <div className="card">
        <h2>Audit log</h2>
        <table className="audit">
          <tbody>
            {q.data?.auditLog.map((e) => (
              <tr key={e.id}>
                <td>{new Date(e.at).toLocaleString()}</td>
                <td>{e.actor}</td>
                <td>{e.action}</td>
                <td>{e.target}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
