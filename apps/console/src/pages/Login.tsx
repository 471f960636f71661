import { useState, type FormEvent } from 'react';
import { useServices, useSession } from '../app-context';

export function LoginPage() {
  const { session } = useServices();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setBusy(true);
    setError(await session.signIn(String(f.get('email')), String(f.get('password'))));
    setBusy(false);
  };
  return (
    <form className="login card" onSubmit={(e) => void submit(e)}>
      <h1>Company OS</h1>
      <label>
        Email <input name="email" type="email" autoComplete="username" required />
      </label>
      <label>
        Password <input name="password" type="password" autoComplete="current-password" required />
      </label>
      {error && <p className="error" role="alert">{error}</p>}
      <button type="submit" disabled={busy}>
        Sign in
      </button>
    </form>
  );
}

/** Tokens are scoped to one organization: switching signs in again there (the password is asked, never kept). */
export function SwitchOrganization({ org, onDone }: { org: { id: string; name: string }; onDone: () => void }) {
  const { session } = useServices();
  const s = useSession();
  const [email, setEmail] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const err = await session.signIn(email, String(f.get('password')), org.id);
    if (err) setError(err);
    else {
      window.location.hash = '#/board';
      onDone();
    }
  };
  return (
    <div className="modal">
      <form className="card" onSubmit={(e) => void submit(e)}>
        <h2>Switch to {org.name}</h2>
        <p>Signed in as {s?.user.name}. Confirm with your email and password.</p>
        <input aria-label="Email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} required />
        <input aria-label="Password" name="password" type="password" required />
        {error && <p className="error">{error}</p>}
        <button type="submit">Switch</button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </form>
    </div>
  );
}
