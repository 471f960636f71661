import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase, testSubjectPrefix } from '@cos/testing';
import { migrateAll } from '../../scripts/lib/database';
import { createWorkerKey, workerProcess } from '../../scripts/lib/agent-worker';
import { startStack, type RunningProcess, type Stack, type StackOptions } from '../../scripts/lib/stack';
import { SERVICES, type ServiceName } from '../../scripts/lib/paths';

export interface TestStack {
  stack: Stack;
  gatewayUrl: string;
  db: TestDatabase;
  prefix: string;
  logDir: string;
  stop(): Promise<void>;
  /** Last lines of every process log (printed when a test fails). */
  logs(lines?: number): string;
  /**
   * Starts the reference agent worker as a process for the organization of `adminToken` (a service account is
   * created for it through the gateway). `env` sets the model provider, timings, ...
   */
  startWorker(opts: { adminToken: string; name?: string; kinds?: string[]; env?: Record<string, string>; apiKey?: string }): Promise<{
    process: RunningProcess;
    apiKey: string;
  }>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The whole graph as real processes on free ports, in its own database and NATS subject prefix. */
export async function startTestStack(overrides: Partial<StackOptions> = {}): Promise<TestStack> {
  const db = await createTestDatabase('cos_e2e');
  // A fresh database with nothing running on it: the contract phase too, so tests run on the final schema.
  await migrateAll(db.adminUrl, () => {}, { phase: 'contract' });
  const prefix = testSubjectPrefix('e');
  const logDir = mkdtempSync(path.join(tmpdir(), 'cos-e2e-'));
  const servicePorts = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await freePort()]))) as Record<ServiceName, number>;
  const stack = await startStack({
    pgAdminUrl: db.adminUrl,
    natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    subjectPrefix: prefix,
    internalSecret: randomBytes(32).toString('hex'),
    gatewayPort: await freePort(),
    servicePorts,
    logDir,
    nodeEnv: 'test',
    extraEnv: { LOG_LEVEL: 'info', ...overrides.extraEnv },
    ...overrides,
  }).catch(async (err) => {
    await db.drop().catch(() => {});
    throw new Error(`${(err as Error).message}\n${tailLogs(logDir, 40)}`);
  });
  return {
    stack,
    gatewayUrl: stack.gatewayUrl,
    db,
    prefix,
    logDir,
    logs: (n = 30) => tailLogs(logDir, n, stack.processes.map((p) => p.name)),
    async startWorker(w) {
      const apiKey = w.apiKey ?? (await createWorkerKey(stack.gatewayUrl, w.adminToken, w.name ?? 'agent-worker'));
      const port = await freePort();
      const p = await stack.startProcess(
        workerProcess({ name: w.name, gatewayUrl: stack.gatewayUrl, apiKey, kinds: w.kinds, metricsPort: port, env: { WORKER_POLL_MS: '2000', ...(w.name ? { WORKER_NAME: w.name } : {}), ...w.env } }),
      );
      return { process: p, apiKey };
    },
    async stop() {
      await stack.stop();
      await db.drop().catch(() => {});
    },
  };
}

function tailLogs(dir: string, n: number, names: string[] = [...SERVICES, 'gateway', 'mailer']): string {
  return names
    .map((name) => {
      try {
        const lines = readFileSync(path.join(dir, `${name}.log`), 'utf8').trim().split('\n');
        return `--- ${name} ---\n${lines.slice(-n).join('\n')}`;
      } catch {
        return `--- ${name}: no log ---`;
      }
    })
    .join('\n');
}
