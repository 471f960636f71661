import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { headers } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, testSubjectPrefix } from '@cos/testing';
import { BusHeaders, connectBus, type Bus } from '../src';
import { log } from './harness';

const run = promisify(execFile);
const prefix = testSubjectPrefix();
let bus: Bus;

const cli = (...args: string[]) =>
  run(path.join(repoRoot, 'node_modules/.bin/tsx'), [path.join(repoRoot, 'scripts/dlq.ts'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, COS_SUBJECT_PREFIX: prefix, LOG_LEVEL: 'silent' },
    timeout: 20_000,
  });

beforeAll(async () => {
  bus = await connectBus({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', subjectPrefix: prefix, name: 'dlq-cli-test', log });
});
afterAll(async () => {
  await bus.jsm.streams.delete(bus.streamName).catch(() => {});
  await bus.jsm.streams.delete(bus.dlqStreamName).catch(() => {});
  await bus.close();
});

describe('pnpm dlq', () => {
  it('lists dead letters and replays them to their original subject', async () => {
    const eventId = randomUUID();
    const original = `${prefix}.${randomUUID()}.tasks.Task.TaskCreated`;
    const h = headers();
    h.set(BusHeaders.EventId, eventId);
    h.set(BusHeaders.EventType, 'TaskCreated');
    h.set(BusHeaders.DlqSubject, original);
    h.set(BusHeaders.DlqConsumer, 'customers-on-tasks');
    h.set(BusHeaders.DlqError, 'handler exploded');
    h.set(BusHeaders.DlqDeliveryCount, '5');
    const body = JSON.stringify({ id: eventId, type: 'TaskCreated' });
    const { seq } = await bus.js.publish(`${prefix}dlq.customers.on-tasks`, body, { headers: h });

    const listed = JSON.parse((await cli('list', '--json')).stdout) as Array<Record<string, unknown>>;
    expect(listed).toEqual([
      expect.objectContaining({ seq, service: 'customers', consumer: 'customers-on-tasks', originalSubject: original, eventId, error: 'handler exploded', deliveryCount: 5 }),
    ]);
    expect((await cli('list', '--service', 'tasks')).stdout).toMatch(/no dead letters/);

    const out = (await cli('replay', String(seq))).stdout;
    expect(out).toContain(`replayed ${seq}`);
    const info = await bus.jsm.streams.info(bus.streamName);
    const m = (await bus.jsm.streams.getMessage(bus.streamName, { seq: info.state.last_seq }))!;
    expect(m.subject).toBe(original);
    expect(m.string()).toBe(body);
    expect(m.header.get('Nats-Msg-Id')).toBe(`${eventId}:replay:${seq}`);
    expect(m.header.get(BusHeaders.EventId)).toBe(eventId);
    expect(m.header.get(BusHeaders.DlqError)).toBe('');
    expect((await bus.jsm.streams.info(bus.dlqStreamName)).state.messages).toBe(0);
    await expect(cli('replay', String(seq))).rejects.toMatchObject({ code: 1 });
  });
});
