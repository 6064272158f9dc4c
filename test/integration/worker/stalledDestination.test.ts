// A destination worker that stops reading mid-body: the source worker's
// transfer is cut within the idle timeout, its task fails as retryable (so
// the engine sends it again), and the task's next attempt, to a destination
// that reads, completes. The bed's NATS and S3, a real destination endpoint,
// and a stalled one that accepts a connection and reads nothing.
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { streams } from '../../../api/names.ts';
import {
  statusConsumerName,
  tasksSubject,
  type StatusMessage,
  type TaskMessage,
} from '../../../api/tasks.ts';
import { createLogger } from '../../../common/logging.ts';
import { ensureJobConsumers, ensureStreams } from '../../../operator/dispatch/streams.ts';
import { SourceTaskLoop } from '../../../worker/taskLoop.ts';
import { createDestinationHandler } from '../../../worker/transfer/destinationEndpoint.ts';
import { UploadRegistry } from '../../../worker/transfer/uploadRegistry.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { waitFor } from '../../support/wait.ts';
import { chunked, MiB, s3Store, sha256 } from './transfer/harness.ts';

const log = createLogger('stalled-destination-test', 'error');
const token = 'stall-token';
const idleTimeoutMs = 1_500;

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('a destination that stops reading mid-body', () => {
  let nc: NatsConnection;
  let js: JetStreamClient;

  beforeAll(async () => {
    nc = await connect({ servers: bedEndpoints().natsUrl });
    js = jetstream(nc);
    await ensureStreams(await jetstreamManager(nc));
  });
  afterAll(async () => nc?.close());

  it('fails the task as retryable within the idle timeout, and its next attempt completes', async () => {
    const uid = randomUUID();
    await ensureJobConsumers(await jetstreamManager(nc), uid);
    const source = await s3Store();
    const destination = await s3Store();
    const handler = createDestinationHandler(destination, token, log, await UploadRegistry.open(nc, uid));
    const good = await listen((req, res) => {
      if (!handler(req, res)) res.writeHead(404).end();
    });
    const stalled = await listen((req) => req.pause());
    // The first attempt goes to the stalled destination, the next to the good one.
    const picks = [stalled.url];
    const loop = new SourceTaskLoop({
      js,
      jobUid: uid,
      worker: 'source-0',
      source,
      pickDestination: async () => picks.shift() ?? good.url,
      token,
      concurrency: 2,
      log,
      idleTimeoutMs,
    });
    try {
      const data = randomBytes(32 * MiB);
      await source.write('big', chunked(data), { size: data.length });
      const object = { key: 'big', size: data.length, sha256: sha256(data) };
      const task = { kind: 'copy' as const, id: 't1', objects: [object], bytes: data.length };
      const send = (attempt: number) =>
        js.publish(
          tasksSubject(uid),
          JSON.stringify({ jobUid: uid, epoch: 1, attempt, task } as TaskMessage),
        );
      const statuses = await js.consumers.get(streams.status, statusConsumerName(uid));
      const outcome = async (attempt: number): Promise<StatusMessage> => {
        let found: StatusMessage | undefined;
        await waitFor(
          `attempt ${attempt}'s outcome`,
          async () => {
            const msg = await statuses.next({ expires: 1_000 });
            if (!msg) return false;
            msg.ack();
            const status = JSON.parse(msg.string()) as StatusMessage;
            if (status.attempt === attempt && status.state !== 'RUNNING') found = status;
            return found !== undefined;
          },
          30_000,
        );
        return found!;
      };

      loop.start();
      const began = Date.now();
      await send(1);
      const failed = await outcome(1);
      const tookMs = Date.now() - began;
      expect(failed.state).toBe('FAILED');
      expect(failed.error?.kind).toBe('retryable');
      // The idle timeout plus the time the socket buffers took to fill: not Node's 300 s, not forever.
      expect(tookMs).toBeLessThan(idleTimeoutMs + 8_000);
      expect(await destination.stat('big')).toBeUndefined();

      // The engine sends a retryable failure again: the job goes on.
      await send(2);
      expect((await outcome(2)).state).toBe('SUCCEEDED');
      expect((await destination.stat('big'))?.size).toBe(data.length);
    } finally {
      await loop.stop(0);
      for (const s of [good.server, stalled.server]) {
        s.closeAllConnections();
        s.close();
      }
      await source.close();
      await destination.close();
    }
  });
});
