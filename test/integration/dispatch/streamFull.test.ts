// A full stream holds publishing back instead of failing it: against the bed's
// real nats-server, a work-queue stream at its byte limit (discard: new, as
// FERRY_TASKS and FERRY_STATUS are) refuses a message, and
// publishWithBackPressure waits until a consumer made room, then publishes.
import { randomUUID } from 'node:crypto';
import { AckPolicy, DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { createLogger } from '../../../common/logging.ts';
import { isStreamFull, publishWithBackPressure } from '../../../operator/dispatch/messageBudget.ts';
import { connectEngineClients, type EngineClients } from '../../support/engineClients.ts';

describe('publishing to a full stream', () => {
  let clients: EngineClients;
  const name = `FULL_${randomUUID().slice(0, 8)}`;
  const subject = `full.${name}`;

  beforeAll(async () => {
    clients = await connectEngineClients();
    await clients.jsm.streams.add({
      name,
      subjects: [subject],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      max_bytes: 4096,
      discard: DiscardPolicy.New,
    });
    await clients.jsm.consumers.add(name, { durable_name: 'c', ack_policy: AckPolicy.Explicit });
  });
  afterAll(async () => {
    await clients.jsm.streams.delete(name);
    await clients.close();
  });

  it('waits while the stream is full and publishes once a message was taken, losing nothing', async () => {
    const body = Buffer.alloc(1000, 1);
    let refused: unknown;
    for (let i = 0; i < 10 && !refused; i++)
      await clients.js.publish(subject, body).catch((err: unknown) => (refused = err));
    expect(isStreamFull(refused)).toBe(true);
    const held = (await clients.jsm.streams.info(name)).state.messages;

    const warnings: string[] = [];
    const log = { ...createLogger('test', 'error'), warn: (message: string) => void warnings.push(message) };
    const began = Date.now();
    const publishing = publishWithBackPressure(
      () => clients.js.publish(subject, body),
      'a test message',
      log,
    );
    await new Promise((r) => setTimeout(r, 1_000));
    const consumer = await clients.js.consumers.get(name, 'c');
    (await consumer.next({ expires: 2_000 }))!.ack();
    await publishing;

    expect(Date.now() - began).toBeGreaterThanOrEqual(1_000);
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings[0]).toMatch(/stream full/);
    await new Promise((r) => setTimeout(r, 200));
    expect((await clients.jsm.streams.info(name)).state.messages).toBe(held); // one taken, one added
  });
});
