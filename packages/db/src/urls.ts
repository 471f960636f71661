/** How a service reaches Postgres: one database, one schema and two roles per service. */
export interface ServiceDatabaseConfig {
  schema: string;
  runtimeRole: string;
  systemRole: string;
  runtimeUrl: string;
  systemUrl: string;
  adminUrl: string;
}

/**
 * Derives a service's connection strings from one base URL (the admin connection to the shared database).
 * Explicit URLs (DATABASE_URL / SYSTEM_DATABASE_URL) win, for production where each role has its own password.
 */
export function serviceDatabase(
  service: string,
  adminUrl: string,
  overrides: { runtimeUrl?: string; systemUrl?: string } = {},
): ServiceDatabaseConfig {
  const withUser = (user: string) => {
    const u = new URL(adminUrl);
    u.username = user;
    u.password = '';
    return u.toString();
  };
  const runtimeRole = `cos_${service}`;
  const systemRole = `cos_${service}_system`;
  return {
    schema: service,
    runtimeRole,
    systemRole,
    runtimeUrl: overrides.runtimeUrl ?? withUser(runtimeRole),
    systemUrl: overrides.systemUrl ?? withUser(systemRole),
    adminUrl,
  };
}
