import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  jetstream,
  jetstreamManager,
  StorageType,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { bedEndpoints } from '../../support/bed.ts';

describe('the local nats-server with JetStream', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const stream = `SMOKE_${Date.now()}`;
  const subject = `smoke.${Date.now()}.tasks`;

  beforeAll(async () => {
    nc = await connect({ servers: bedEndpoints().natsUrl });
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [subject], storage: StorageType.File });
  });

  afterAll(async () => {
    await jsm?.streams.delete(stream);
    await nc?.close();
  });

  it('stores messages on file and de-duplicates them by Nats-Msg-Id', async () => {
    const js = jetstream(nc);
    const first = await js.publish(subject, 'task-1', { msgID: 'task-1' });
    const again = await js.publish(subject, 'task-1', { msgID: 'task-1' });
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);
    const info = await jsm.streams.info(stream);
    expect(info.config.storage).toBe(StorageType.File);
    expect(info.state.messages).toBe(1);
  });

  it('redelivers an unacknowledged message after ack-wait, and not once it is acknowledged', async () => {
    const durable = 'smoke-worker';
    await jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(1_000),
    });
    const consumer = await jetstream(nc).consumers.get(stream, durable);

    const firstDelivery = await consumer.next({ expires: 5_000 });
    expect(firstDelivery?.string()).toBe('task-1');
    expect(firstDelivery?.info.deliveryCount).toBe(1);
    // No ack: the worker "died". JetStream hands the message out again after ack-wait.
    const redelivery = await consumer.next({ expires: 5_000 });
    expect(redelivery?.string()).toBe('task-1');
    expect(redelivery?.redelivered).toBe(true);
    expect(redelivery?.info.deliveryCount).toBe(2);
    await redelivery!.ackAck();

    const afterAck = await consumer.next({ expires: 2_000 });
    expect(afterAck).toBeNull();
    expect((await consumer.info()).num_ack_pending).toBe(0);
  });
});
