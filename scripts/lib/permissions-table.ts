import { ROLES, ROLE_SCOPES, SCOPES, type Scope } from '@cos/auth';

/** The permission matrix from packages/auth rendered as the README's markdown table. */
export function permissionsTable(): string {
  const header = `| scope | meaning | ${ROLES.join(' | ')} |`;
  const sep = `|---|---|${ROLES.map(() => ':-:').join('|')}|`;
  const rows = (Object.keys(SCOPES) as Scope[]).map(
    (s) => `| \`${s}\` | ${SCOPES[s]} | ${ROLES.map((r) => (ROLE_SCOPES[r].includes(s) ? '✓' : '')).join(' | ')} |`,
  );
  return [header, sep, ...rows].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(permissionsTable());
