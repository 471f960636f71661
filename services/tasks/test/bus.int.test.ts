/** The wiring main() uses, over real NATS JetStream: consumers apply foreign events; the relay publishes ours. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectBus, startOutboxRelay, subjectFor, type Bus, type OutboxRelay, type RunningConsumer } from '@cos/bus';
import { createLogger } from '@cos/logger';
import { userPrincipal, testSubjectPrefix, TEST_INTERNAL_SECRET } from '@cos/testing';
import { signBlobRef, stageStream } from '@cos/files';
import { startTasksConsumers } from '../src/events/consumers';
import { NOTIFY_CHANNEL } from '../src/projector';
import { foreignEvent, startHarness, type Harness } from './helpers';

const log = createLogger('tasks-bus-test', 'silent');
let h: Harness;
let bus: Bus;
let consumers: RunningConsumer[] = [];
let relay: OutboxRelay;

beforeAll(async () => {
  h = await startHarness();
  bus = await connectBus({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', subjectPrefix: testSubjectPrefix(), name: 'tasks-test', log });
  consumers = await startTasksConsumers({ bus, systemDb: h.systemDb, log, blobs: h.blobs });
  relay = startOutboxRelay({ bus, db: h.systemDb, service: 'tasks', notifyChannel: NOTIFY_CHANNEL, log, pollIntervalMs: 200 });
});
afterAll(async () => {
  await Promise.allSettled(consumers.map((c) => c.stop()));
  await relay?.stop();
  if (bus) {
    await bus.jsm.streams.delete(bus.streamName).catch(() => {});
    await bus.jsm.streams.delete(bus.dlqStreamName).catch(() => {});
    await bus.close();
  }
  await h?.close();
});

async function until<T>(fn: () => Promise<T | null | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('applies identity and customers events from JetStream, once, and publishes its own events', async () => {
  const org = randomUUID();
  const owner = randomUUID();
  const joined = foreignEvent(org, 'Organization', 'MemberJoined', { organizationId: org, userId: owner, name: 'O', role: 'OWNER' });
  await bus.js.publish(subjectFor(bus.prefix, 'identity', joined), JSON.stringify(joined), { msgID: joined.id });
  await until(() => h.systemDb.withClient((tx) => tx.one('SELECT 1 AS ok FROM members WHERE org_id = $1 AND user_id = $2', [org, owner])));

  const customerId = randomUUID();
  const flagged = foreignEvent(org, 'Customer', 'ChurnRiskFlagged', { customerId, name: 'Gamma', score: 12, ownerId: owner, episode: 1 });
  // Published twice under different message ids: the inbox does not catch it, the origin key does.
  await bus.js.publish(subjectFor(bus.prefix, 'customers', flagged), JSON.stringify(flagged), { msgID: flagged.id });
  const again = { ...flagged, id: randomUUID() };
  await bus.js.publish(subjectFor(bus.prefix, 'customers', again), JSON.stringify(again), { msgID: again.id });
  const p = userPrincipal(owner, org, 'OWNER');
  const count = async () =>
    (await h.exec(p, `query($c: ID) { tasks(filter: { customerId: $c }) { totalCount edges { node { id } } } }`, { c: customerId })).data!.tasks;
  const tasks = await until(async () => ((await count()).totalCount > 0 ? count() : null));
  await until(() => h.systemDb.withClient((tx) => tx.one(`SELECT 1 AS ok FROM inbox WHERE consumer LIKE '%customers%' AND event_id = $1`, [again.id])));
  expect((await count()).totalCount).toBe(1);

  // The relay publishes TaskCreated on cos-style subjects for other services.
  const taskId = tasks.edges[0].node.id as string;
  const subject = `${bus.prefix}.${org}.tasks.Task.TaskCreated`;
  const msg = await until(async () => bus.jsm.streams.getMessage(bus.streamName, { last_by_subj: subject }).catch(() => null));
  expect(msg.json<{ type: string; data: { taskId: string } }>()).toMatchObject({ type: 'TaskCreated', data: { taskId } });
});

it('UserErased published on identity.User removes the person\'s attachments and, through our own AttachmentRemoved, their blob', async () => {
  const org = randomUUID();
  const person = randomUUID();
  const joined = foreignEvent(org, 'Organization', 'MemberJoined', { organizationId: org, userId: person, name: 'P', role: 'MEMBER' });
  await bus.js.publish(subjectFor(bus.prefix, 'identity', joined), JSON.stringify(joined), { msgID: joined.id });
  await until(() => h.systemDb.withClient((tx) => tx.one('SELECT 1 AS ok FROM members WHERE org_id = $1 AND user_id = $2', [org, person])));
  const p = userPrincipal(person, org, 'MEMBER');
  const task = await h.exec(p, `mutation { createTask(input: { title: "erasable" }) { id } }`);
  async function* bytes() {
    yield Buffer.from(`personal file of ${person}`);
  }
  const staged = await stageStream(bytes(), h.blobs.stagingDir(), 10_000);
  await h.blobs.put(staged.sha256, staged.path);
  const ref = signBlobRef({ sha256: staged.sha256, size: staged.size, type: 'text/plain', name: 'me.txt', orgId: org }, TEST_INTERNAL_SECRET);
  const added = await h.exec(p, `mutation($t: ID!, $f: Upload!) { addAttachment(taskId: $t, file: $f) { id } }`, { t: task.data!.createTask.id, f: ref });
  expect(added.errors).toBeUndefined();

  const erased = foreignEvent(org, 'User', 'UserErased', { userId: person });
  expect(subjectFor(bus.prefix, 'identity', erased)).toBe(`${bus.prefix}.${org}.identity.User.UserErased`);
  await bus.js.publish(subjectFor(bus.prefix, 'identity', erased), JSON.stringify(erased), { msgID: erased.id });
  await until(() => h.systemDb.withClient((tx) => tx.one(`SELECT 1 AS ok FROM events WHERE type = 'AttachmentRemoved' AND data->>'attachmentId' = $1`, [added.data!.addAttachment.id])));
  // The relay publishes AttachmentRemoved; the blobs consumer deletes the now unreferenced blob.
  await until(async () => !(await h.blobs.has(staged.sha256)), 20_000);
});
