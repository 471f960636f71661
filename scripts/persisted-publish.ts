/**
 * `pnpm persisted:publish <client> <manifest.json>`: registers a client's trusted documents through the gateway's
 * audited admin mutation `publishPersistedOperations` (identity validates every operation against the current
 * supergraph; nothing is written when one is invalid). A partner API key whose name is <client> may then run them.
 *
 * Env: COS_GRAPH_URL (default http://127.0.0.1:4000/graphql) and either COS_ACCESS_TOKEN (an ADMIN/OWNER access
 * token) or COS_EMAIL + COS_PASSWORD (+ optional COS_ORG_ID) to sign in.
 */
import { readFile } from 'node:fs/promises';
import { gql } from './lib/graphql-client';

async function main() {
  const [client, file] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  if (!client || !file) {
    console.error('usage: pnpm persisted:publish <client> <manifest.json>');
    process.exit(2);
  }
  const url = process.env.COS_GRAPH_URL ?? 'http://127.0.0.1:4000/graphql';
  const manifest = JSON.parse(await readFile(file, 'utf8')) as unknown;
  let token = process.env.COS_ACCESS_TOKEN;
  if (!token) {
    const { COS_EMAIL: email, COS_PASSWORD: password, COS_ORG_ID: organizationId } = process.env;
    if (!email || !password) {
      console.error('set COS_ACCESS_TOKEN, or COS_EMAIL and COS_PASSWORD of an ADMIN/OWNER');
      process.exit(2);
    }
    const login = await gql<{ login: { accessToken: string } }>(
      url,
      `mutation($e: String!, $p: String!, $o: ID) { login(email: $e, password: $p, organizationId: $o) { accessToken } }`,
      { e: email, p: password, o: organizationId ?? null },
    );
    if (login.errors?.length || !login.data) {
      console.error(`sign-in failed: ${login.errors?.[0]?.message ?? 'no data'}`);
      process.exit(1);
    }
    token = login.data.login.accessToken;
  }
  const r = await gql<{ publishPersistedOperations: number }>(
    url,
    `mutation($c: String!, $m: JSON!) { publishPersistedOperations(client: $c, manifest: $m) }`,
    { c: client, m: manifest },
    { token },
  );
  if (r.errors?.length || !r.data) {
    for (const e of r.errors ?? []) console.error(`✗ ${e.message}`);
    process.exit(1);
  }
  const total = (manifest as { operations?: unknown[] }).operations?.length ?? 0;
  console.log(`${client}: ${r.data.publishPersistedOperations} new, ${total - r.data.publishPersistedOperations} already registered`);
}

await main();
