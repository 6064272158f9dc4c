// The task engine end to end, without Kubernetes: plan from the real stores,
// record in etcd, dispatch over JetStream, a source worker's task loop copies
// to a destination worker's endpoint, status flows back into the ledger, and
// Sync's deletes go out only after every copy succeeded.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Etcd3 } from 'etcd3';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { streams } from '../../../api/names.ts';
import { statusConsumerName } from '../../../api/tasks.ts';
import type { JobChannels } from '../../../operator/dispatch/jobChannels.ts';
import { createLogger } from '../../../common/logging.ts';
import { dispatchTasks } from '../../../operator/dispatch/dispatcher.ts';
import { StatusIngestor } from '../../../operator/dispatch/statusIngest.ts';
import { ensureJobConsumers, ensureStreams } from '../../../operator/dispatch/streams.ts';
import { TaskLedger } from '../../../operator/ledger/taskLedger.ts';
import { judgeDeletes } from '../../../operator/planner/deleteSafety.ts';
import { compileFilters } from '../../../operator/planner/filters.ts';
import { mergeListings } from '../../../operator/planner/listingMerge.ts';
import { emptyTotals, planTasks, type PlannedTask } from '../../../operator/planner/taskPlanner.ts';
import { resumeJob } from '../../../operator/resume/resumeJob.ts';
import { announceDestination } from '../../../api/announcements.ts';
import { DestinationDirectory } from '../../../worker/endpoints.ts';
import { openObjectStore } from '../../../storage/index.ts';
import type { ObjectStore } from '../../../storage/objectStore.ts';
import { SourceTaskLoop } from '../../../worker/taskLoop.ts';
import { createDestinationHandler } from '../../../worker/transfer/destinationEndpoint.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { waitFor } from '../../support/wait.ts';

const log = createLogger('pipeline-test', 'error');

async function readAll(store: ObjectStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.read(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('the task engine from plan to verified destination', () => {
  it('replicates an S3 bucket to a filesystem in Sync mode, deleting only the extra object, after the copies', async () => {
    const { endpoint, region, credentials } = bedEndpoints().s3;
    const bucket = `pipeline-${Date.now()}`;
    const admin = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    const contents = new Map<string, Buffer>([
      ['empty', Buffer.alloc(0)],
      ['photos/été 2026/a+b %.jpg', randomBytes(1)],
      ['big.bin', randomBytes(3 * 1024 * 1024)],
      ...Array.from(
        { length: 25 },
        (_, i) => [`docs/${String(i).padStart(2, '0')}.txt`, randomBytes(4096)] as [string, Buffer],
      ),
    ]);
    for (const [Key, Body] of contents) await admin.send(new PutObjectCommand({ Bucket: bucket, Key, Body }));
    admin.destroy();

    const source = openObjectStore({ s3: { endpoint, region, bucket, forcePathStyle: true } }, credentials);
    const destinationDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-pipeline-'));
    const destination = openObjectStore({
      filesystem: { claimName: 'dest', path: '/', mountPath: destinationDir },
    });
    await destination.write('stale.txt', Readable.from([Buffer.from('old')]), { size: 3 });

    const uid = randomUUID();
    const token = randomBytes(16).toString('hex');
    const etcd = new Etcd3({ hosts: bedEndpoints().ledgerEtcdUrl });
    const nc: NatsConnection = await connect({ servers: bedEndpoints().natsUrl });
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const server = http.createServer((req, res) => {
      if (!createDestinationHandler(destination, token, log)(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const withdraw = await announceDestination(nc, uid, 'destination-0', url);
    const directory = new DestinationDirectory(nc, uid);
    const worker = new SourceTaskLoop({
      js,
      jobUid: uid,
      worker: 'source-0',
      source,
      pickDestination: () => directory.pick(),
      token,
      concurrency: 4,
      log,
    });

    try {
      // The operator's side: plan, record, dispatch the copies.
      await ensureStreams(jsm);
      await ensureJobConsumers(jsm, uid);
      const ledger = new TaskLedger(etcd, uid);
      const job: JobChannels = { jobUid: uid, ledger, js };
      await ledger.ensureJob();
      const totals = emptyTotals();
      const tasks: PlannedTask[] = [];
      for await (const task of planTasks(
        mergeListings(source.list(''), destination.list('')),
        {
          mode: 'Sync',
          maxObjects: 10,
          maxBytes: 1024 * 1024,
          partSize: 64 * 1024 * 1024,
          inScope: compileFilters(undefined),
        },
        totals,
      )) {
        tasks.push(task);
      }
      expect(totals).toMatchObject({
        objectsToCopy: contents.size,
        objectsToDelete: 1,
        sourceObjects: contents.size,
      });
      expect(judgeDeletes(totals, { maxDeletes: 10 })).toEqual({ allowed: true });
      await ledger.recordPlan(tasks, {}, true, totals);
      const copies = tasks.filter((t) => t.kind !== 'delete');
      await dispatchTasks(
        job,
        copies.map((task) => ({ task, epoch: 1, attempt: 1 })),
      );

      worker.start();
      const ingestUntil = async (
        ingestor: StatusIngestor,
        what: string,
        done: (c: Awaited<ReturnType<TaskLedger['countByState']>>) => boolean,
      ) =>
        waitFor(
          what,
          async () => {
            await ingestor.ingestBatch(256, 1_000);
            return done(await ledger.countByState());
          },
          60_000,
        );

      const ingestor = new StatusIngestor(
        job,
        await js.consumers.get(streams.status, statusConsumerName(uid)),
        log,
      );
      await ingestUntil(ingestor, 'every copy to succeed', (c) => c.SUCCEEDED === copies.length);
      expect((await destination.stat('stale.txt'))?.size).toBe(3); // no delete before the copies are done

      // Copies done: the next engine's start (a resume: the operator restarted, say) sends the held deletes.
      const resumed = await resumeJob(job, jsm, { spec: { deletion: { maxDeletes: 10 } }, log });
      expect(resumed.afterPlan).toMatchObject({ kind: 'sent', sent: { resent: 1, deletesHeld: 0 } });
      await ingestUntil(resumed.ingestor, 'the delete to succeed', (c) => c.SUCCEEDED === tasks.length);

      const listed: string[] = [];
      for await (const o of destination.list('')) listed.push(o.key);
      expect(listed.sort()).toEqual([...contents.keys()].sort());
      for (const [key, body] of contents) expect(sha(await readAll(destination, key))).toBe(sha(body));
      const info = await jsm.consumers.info(streams.status, statusConsumerName(uid));
      expect(info.num_pending + info.num_ack_pending).toBe(0);
    } finally {
      await worker.stop();
      await withdraw();
      server.close();
      await source.close();
      await destination.close();
      await new TaskLedger(etcd, uid).remove();
      etcd.close();
      await nc.close();
    }
  });
});
