// The task consumer's ack-wait decides how soon a task held by a dead source
// worker goes to another one, so operators want it short. That is safe only if
// a live worker on a long task keeps the task: it signals progress
// (`working()`) every third of the ack-wait. Against the bed's nats-server and
// etcd, with a real source task loop and destination endpoint.
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { nanos } from '@nats-io/transport-node';
import { streams } from '../../../api/names.ts';
import { statusConsumerName, taskConsumerName } from '../../../api/tasks.ts';
import { createLogger } from '../../../common/logging.ts';
import { dispatchTasks } from '../../../operator/dispatch/dispatcher.ts';
import { ensureJobConsumers } from '../../../operator/dispatch/streams.ts';
import { TaskLedger } from '../../../operator/ledger/taskLedger.ts';
import { taskId } from '../../../operator/planner/taskPlanner.ts';
import { FilesystemStore } from '../../../storage/index.ts';
import type { WriteOptions, WriteResult } from '../../../storage/objectStore.ts';
import { SourceTaskLoop } from '../../../worker/taskLoop.ts';
import { createDestinationHandler } from '../../../worker/transfer/destinationEndpoint.ts';
import { connectEngineClients, type EngineClients } from '../../support/engineClients.ts';
import { waitFor } from '../../support/wait.ts';

const log = createLogger('ack-wait-test', 'error');
const ackWaitMs = 1_500;

/** A destination store that takes `delayMs` to write each object: a long task. */
class SlowStore extends FilesystemStore {
  delayMs = 0;
  override async write(key: string, body: Readable, options: WriteOptions): Promise<WriteResult> {
    await new Promise((r) => setTimeout(r, this.delayMs));
    return super.write(key, body, options);
  }
}

describe('the task ack-wait', () => {
  let clients: EngineClients;
  beforeAll(async () => {
    clients = await connectEngineClients();
  });
  afterAll(() => clients.close());

  it('is applied to a running job’s task consumer when the operator restarts with another value', async () => {
    const uid = randomUUID();
    await ensureJobConsumers(clients.jsm, uid, { taskAckWaitMs: 60_000, taskMaxDeliver: 5 });
    await ensureJobConsumers(clients.jsm, uid, { taskAckWaitMs: 2_000, taskMaxDeliver: 9 });
    const info = await clients.jsm.consumers.info(streams.tasks, taskConsumerName(uid));
    expect(info.config).toMatchObject({ ack_wait: nanos(2_000), max_deliver: 9 });
    await clients.jsm.consumers.delete(streams.tasks, taskConsumerName(uid));
    await clients.jsm.consumers.delete(streams.status, statusConsumerName(uid));
  });

  /** Runs one task whose object takes 4 ack-waits to write; returns how often it was delivered again. */
  async function redeliveriesOfALongTask(workingIntervalMs: number): Promise<number> {
    const { js, jsm, etcd } = clients;
    const uid = randomUUID();
    const token = randomBytes(16).toString('hex');
    const sourceDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-ackwait-src-'));
    const source = new FilesystemStore({ claimName: 'src', mountPath: sourceDir });
    await source.write('slow.bin', Readable.from([Buffer.alloc(1024, 7)]), { size: 1024 });
    const destination = new SlowStore({
      claimName: 'dst',
      mountPath: mkdtempSync(path.join(os.tmpdir(), 'ferry-ackwait-dst-')),
    });
    destination.delayMs = 4 * ackWaitMs;
    const server = http.createServer((req, res) => {
      if (!createDestinationHandler(destination, token, log)(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    // Two source workers: a task taken away from the busy one goes to the idle one.
    const workers = ['source-0', 'source-1'].map(
      (name) =>
        new SourceTaskLoop({
          js,
          jobUid: uid,
          worker: name,
          source,
          pickDestination: async () => url,
          token,
          concurrency: 1,
          log,
          workingIntervalMs,
        }),
    );
    const ledger = new TaskLedger(etcd, uid);
    try {
      await ensureJobConsumers(jsm, uid, { taskAckWaitMs: ackWaitMs, taskMaxDeliver: 5 });
      await ledger.ensureJob();
      const task = {
        kind: 'copy' as const,
        id: taskId(0),
        objects: [{ key: 'slow.bin', size: 1024 }],
        bytes: 1024,
      };
      await ledger.recordPlan([task], {}, true);
      await dispatchTasks({ js, ledger, jobUid: uid }, [{ task, epoch: 1, attempt: 1 }]);
      for (const worker of workers) worker.start();
      await waitFor(
        'the slow task to be acknowledged',
        async () => {
          const info = await jsm.consumers.info(streams.tasks, taskConsumerName(uid));
          return info.num_pending + info.num_ack_pending === 0 && info.delivered.consumer_seq > 0;
        },
        30_000,
      );
      expect((await destination.stat('slow.bin'))?.size).toBe(1024);
      // Every delivery, first or again, takes a consumer sequence number.
      return (await jsm.consumers.info(streams.tasks, taskConsumerName(uid))).delivered.consumer_seq - 1;
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      server.close();
      await ledger.remove();
      await jsm.consumers.delete(streams.tasks, taskConsumerName(uid));
      await jsm.consumers.delete(streams.status, statusConsumerName(uid));
    }
  }

  it('does not take a task away from a worker that signals progress every third of it', async () => {
    expect(await redeliveriesOfALongTask(ackWaitMs / 3)).toBe(0);
  });

  it('takes it away from a worker that signals less often than it (the check above can fail)', async () => {
    expect(await redeliveriesOfALongTask(10 * ackWaitMs)).toBeGreaterThan(0);
  });
});
