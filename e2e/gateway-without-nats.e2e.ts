/**
 * Issue 12: the gateway starts and serves queries and mutations while NATS is unreachable; subscriptions answer
 * SERVICE_UNAVAILABLE, /readyz and /metrics say NATS is down, and everything comes back by itself once NATS is
 * reachable — subscriptions then deliver the real events.
 *
 * The second gateway's NATS_URL points at a port where nothing listens at first; later a TCP relay to the
 * machine's NATS opens on that port (the real server, not a fake), as if NATS had come back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { createClient as createWsClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually, gql, gqlOk } from '../scripts/lib/graphql-client';
import { freePort, startTestStack, type TestStack } from './support/test-stack';

let t: TestStack;
let gateway2: ChildProcess | null = null;
let base2 = '';
let natsPort = 0;
let relay: Server | null = null;
const sockets = new Set<Socket>();
let token = '';

const natsTarget = new URL(process.env.NATS_URL ?? 'nats://127.0.0.1:4222');

/** Opens `port` as a relay to the machine's NATS server: from now on NATS is reachable there. */
async function openRelay(port: number): Promise<void> {
  relay = createServer((client) => {
    const upstream = netConnect(Number(natsTarget.port || 4222), natsTarget.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve, reject) => relay!.once('error', reject).listen(port, '127.0.0.1', resolve));
}

const readyz = async () => {
  const r = await fetch(`${base2}/readyz`).catch(() => null);
  return r ? { status: r.status, body: (await r.json()) as { status: string; dependencies: Record<string, string> } } : null;
};

function subscribe(query: string): { results: unknown[]; errors: unknown[]; dispose(): void } {
  const client = createWsClient({
    url: `${base2.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  const results: unknown[] = [];
  const errors: unknown[] = [];
  const stop = client.subscribe({ query }, { next: (r) => void results.push(r), error: (e) => void errors.push(e), complete: () => undefined });
  return {
    results,
    errors,
    dispose() {
      stop();
      void client.dispose();
    },
  };
}

beforeAll(async () => {
  t = await startTestStack();
  const s = await gqlOk<any>(t.gatewayUrl, `mutation { signUp(input: { email: "own@nonats.test", password: "correct horse battery", name: "Nora", organizationName: "No NATS" }) { accessToken } }`);
  token = s.signUp.accessToken;
  // The stack's gateway environment, with NATS moved to a port where nothing listens.
  const gw = t.stack.processes.find((p) => p.name === 'gateway')!;
  const env = Object.fromEntries(
    readFileSync(`/proc/${gw.child.pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  natsPort = await freePort();
  const port = await freePort();
  gateway2 = spawn(path.resolve('node_modules/.bin/tsx'), ['gateway/src/index.ts'], {
    env: { ...env, PORT: String(port), NATS_URL: `nats://127.0.0.1:${natsPort}` },
    stdio: 'ignore',
  });
  base2 = `http://127.0.0.1:${port}`;
  await eventually(async () => (await readyz())?.status === 200, 60_000);
}, 120_000);

afterAll(async () => {
  gateway2?.kill('SIGTERM');
  for (const s of sockets) s.destroy();
  relay?.close();
  await t?.stop();
});

describe('the gateway without NATS', () => {
  it('starts, is ready (degraded: nats unavailable) and serves queries and mutations', async () => {
    const r = await readyz();
    expect(r).toMatchObject({ status: 200, body: { status: 'degraded', dependencies: { nats: 'unavailable', redis: 'ok' } } });
    const created = await gqlOk<any>(`${base2}/graphql`, `mutation { createTask(input: { title: "Written while NATS is away" }) { id title } }`, {}, { token });
    expect(created.createTask.title).toBe('Written while NATS is away');
    const read = await gqlOk<any>(`${base2}/graphql`, `{ tasks(first: 5) { totalCount } me { name } }`, {}, { token });
    expect(read).toEqual({ tasks: { totalCount: 1 }, me: { name: 'Nora' } });
    const metrics = await (await fetch(`${base2}/metrics`)).text();
    expect(metrics).toMatch(/cos_dependency_up\{[^}]*dependency="nats"[^}]*\} 0/);
    expect(metrics).toMatch(/cos_dependency_up\{[^}]*dependency="redis"[^}]*\} 1/);
  });

  it('answers a subscription with SERVICE_UNAVAILABLE (the connection stays usable), not a crash', async () => {
    const s = subscribe('subscription { taskChanged { kind } }');
    const err = await eventually(async () => s.errors[0], 15_000);
    expect(JSON.stringify(err)).toContain('SERVICE_UNAVAILABLE');
    s.dispose();
    // An invalid document over plain HTTP is still refused as before (the process is whole otherwise).
    const bad = await gql(`${base2}/graphql`, '{ tasks(first: 1) { nope } }', {}, { token });
    expect(bad.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('recovers by itself once NATS is reachable: ready with nats ok, subscriptions deliver real events', async () => {
    await openRelay(natsPort);
    await eventually(async () => (await readyz())?.body.dependencies.nats === 'ok', 45_000, 500);
    expect((await readyz())?.body.status).toBe('ok');
    const s = subscribe('subscription { taskChanged { kind task { title } } }');
    // The subscription registers asynchronously (its upstream consumer): write until an event is seen.
    const seen = await eventually(
      async () => {
        await gqlOk(t.gatewayUrl, `mutation { createTask(input: { title: "After NATS came back" }) { id } }`, {}, { token });
        await new Promise((r) => setTimeout(r, 700));
        return s.results.find((r: any) => r.data?.taskChanged?.task?.title === 'After NATS came back');
      },
      30_000,
      100,
    );
    expect(seen).toMatchObject({ data: { taskChanged: { kind: 'CREATED' } } });
    expect(s.errors).toEqual([]);
    s.dispose();
    const metrics = await (await fetch(`${base2}/metrics`)).text();
    expect(metrics).toMatch(/cos_dependency_up\{[^}]*dependency="nats"[^}]*\} 1/);
  });
});
