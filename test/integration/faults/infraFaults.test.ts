// Infrastructure faults in the middle of a ReplicationJob: a source or a
// destination worker pod SIGKILLed, nats-server restarted, the tasks or the
// status stream lost, the ledger's etcd restarted. Each job must still end
// Complete with the destination byte-identical to the source, exact counters,
// and no more object writes than the object count plus the tasks the workers
// held at the fault (plus, when statuses are lost, one per lost status).
//
// These tests restart the bed's servers, so they run on a private bed (never
// the shared one other test files use), with the operator as its own process
// and worker pods run by the pod runner.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { labels, streams } from '../../../api/names.ts';
import { statusConsumerName, taskConsumerName } from '../../../api/tasks.ts';
import type { ReplicationJob } from '../../../api/v1alpha1/index.ts';
import { group, plural, version } from '../../../api/v1alpha1/index.ts';
import { LocalControlPlane } from '../../bed/controlPlane.ts';
import { bucketHashes, bucketWith, hashes } from '../../support/bucketContents.ts';
import { countDestinationWrites } from '../../support/destinationWrites.ts';
import {
  finished,
  s3CredentialsSecret,
  startReplicationBed,
  type ReplicationBed,
} from '../../support/replicationBed.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = 'infra-faults';
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-infra-faults-'));
/** Objects per job: one per task, copied one at a time and paced (bandwidthLimit), so a job is mid-way for several seconds. */
const objectCount = 150;
const objectSize = 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface StartedJob {
  name: string;
  uid: string;
  destination: string;
  contents: Map<string, Buffer>;
}

/** What a fault did: the writes it may cost beyond the tasks in flight, and how to end it. */
interface FaultEffect {
  /** Objects whose status the fault lost: each is copied again. */
  lostStatuses?: number;
  /** Brings the failed part back (a stopped server started again). */
  restore?: () => Promise<void>;
  /** The engine must carry on through it, without a resume (a new epoch that re-sends every incomplete task). */
  noResume?: boolean;
}

describe('a ReplicationJob through infrastructure faults', () => {
  let plane: LocalControlPlane;
  let bed: ReplicationBed;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    plane = await LocalControlPlane.start();
    bed = await startReplicationBed({
      namespace,
      name: 'infra-faults',
      logDir,
      bed: plane.endpoints(),
      operatorEnv: { FERRY_WORKER_LOG_LEVEL: 'debug', FERRY_TASK_ACK_WAIT_MS: '3000' },
    });
    nc = await connect({ servers: plane.endpoints().natsUrl, maxReconnectAttempts: -1 });
    jsm = await jetstreamManager(nc);
  });

  afterAll(async () => {
    await bed?.stop();
    await nc?.close();
    await plane?.stop();
  });

  /** Fills a source bucket with `objectCount` objects under `name/` and creates a job copying it. */
  async function startJob(name: string): Promise<StartedJob> {
    const source = `${name}-src`;
    const destination = `${name}-dst`;
    const contents = new Map<string, Buffer>(
      Array.from(
        { length: objectCount },
        (_, i) => [`${name}/${String(i).padStart(4, '0')}.bin`, randomBytes(objectSize)] as [string, Buffer],
      ),
    );
    await bucketWith(bed.s3, source, contents);
    await bed.s3.send(new CreateBucketCommand({ Bucket: destination }));
    const endpoint = plane.endpoints().s3.endpoint;
    const credentialsSecretRef = { name: s3CredentialsSecret };
    const created = (await bed.objects.createNamespacedCustomObject({
      group,
      version,
      namespace,
      plural,
      body: {
        apiVersion: `${group}/${version}`,
        kind: 'ReplicationJob',
        metadata: { name, namespace },
        spec: {
          source: { s3: { endpoint, bucket: source, credentialsSecretRef } },
          destination: { s3: { endpoint, bucket: destination, credentialsSecretRef } },
          tasks: { maxObjects: 1 },
          workers: { source: { concurrency: 1 }, destination: {} },
          // About 16 objects a second: the job is still mid-way when the fault strikes.
          bandwidthLimit: '16Ki',
        },
      } satisfies ReplicationJob,
    })) as ReplicationJob;
    return { name, uid: created.metadata!.uid!, destination, contents };
  }

  async function workerPod(job: StartedJob, role: 'source' | 'destination'): Promise<string> {
    const pods = await bed.core.listNamespacedPod({
      namespace,
      labelSelector: `${labels.jobUid}=${job.uid},${labels.role}=${role}`,
    });
    const running = pods.items.filter((p) => p.status?.phase === 'Running');
    if (running.length !== 1) throw new Error(`expected one running ${role} pod, found ${running.length}`);
    return running[0]!.metadata!.name!;
  }

  /**
   * Runs a job, strikes it with `fault` once some tasks succeeded, and checks
   * what a user relies on: the job ends Complete, the destination holds
   * exactly the source's objects, byte for byte (listed and read back
   * independently), the counters are exact, and the fault cost at most one
   * write per task the workers held at the fault (read just before it; at
   * least one is allowed, as the job's one source worker may take its next
   * task in the milliseconds between that read and the fault).
   */
  async function survives(name: string, fault: (job: StartedJob) => Promise<FaultEffect>): Promise<void> {
    const job = await startJob(name);
    await waitFor(
      `${name}: 15 tasks to succeed`,
      async () => ((await bed.readJob(name)).status?.tasks?.succeeded ?? 0) >= 15,
      90_000,
    );
    const held = (await jsm.consumers.info(streams.tasks, taskConsumerName(job.uid))).num_ack_pending;
    const resumesBefore = (await bed.readJob(name)).status?.resumes ?? 0;
    const effect = await fault(job);
    const faultAt = Date.now();
    if (finished(await bed.readJob(name)))
      throw new Error(`${name} was Complete before the fault: the test proves nothing`);
    await effect.restore?.();

    // Recovered: the first task that succeeds once the fault is over.
    const succeededBefore = (await bed.readJob(name)).status?.tasks?.succeeded ?? 0;
    let progressAt: number | undefined;
    let done: ReplicationJob | undefined;
    await waitFor(
      `${name} to be Complete after the fault`,
      async () => {
        done = await bed.readJob(name);
        if (finished(done, 'Failed')) throw new Error(`${name} failed: ${JSON.stringify(done.status)}`);
        if ((done.status?.tasks?.succeeded ?? 0) > succeededBefore) progressAt ??= Date.now();
        return finished(done);
      },
      90_000,
    );
    const completeAfterMs = Date.now() - faultAt;
    expect(done!.status).toMatchObject({
      phase: 'Succeeded',
      progressPercent: 100,
      objects: { planned: objectCount, copied: objectCount, failed: 0 },
      bytes: { planned: objectCount * objectSize, copied: objectCount * objectSize },
      tasks: { succeeded: objectCount, failed: 0, pending: 0, dispatched: 0, running: 0 },
    });
    if (effect.noResume) expect(done!.status!.resumes ?? 0).toBe(resumesBefore);
    expect(await bucketHashes(bed.s3, job.destination)).toEqual(hashes(job.contents));

    const writes = [...countDestinationWrites(bed.runner.logDir).perKey]
      .filter(([key]) => key.startsWith(`${name}/`))
      .reduce((n, [, count]) => n + count, 0);
    const allowed = objectCount + Math.max(held, 1) + (effect.lostStatuses ?? 0);
    console.log(
      `${name}: progress again ${(progressAt ?? Date.now()) - faultAt} ms and Complete ${completeAfterMs} ms after the fault; ` +
        `${writes} writes for ${objectCount} objects (at most ${allowed}: ${held} tasks held, ${effect.lostStatuses ?? 0} statuses lost); resumes ${done!.status!.resumes ?? 0}`,
    );
    expect(writes).toBeGreaterThanOrEqual(objectCount);
    expect(writes).toBeLessThanOrEqual(allowed);
  }

  it('survives a source worker pod killed mid-copy: its task goes to the replacement', () =>
    survives('source-killed', async (job) => {
      expect(bed.runner.killProcess(namespace, await workerPod(job, 'source'), 'SIGKILL')).toBe(true);
      return { noResume: true }; // its task is redelivered after the ack-wait
    }));

  it('survives a destination worker pod killed mid-copy', () =>
    survives('destination-killed', async (job) => {
      expect(bed.runner.killProcess(namespace, await workerPod(job, 'destination'), 'SIGKILL')).toBe(true);
      return {};
    }));

  it('survives nats-server restarted mid-job: the file-backed streams keep the tasks and statuses', () =>
    survives('nats-restarted', async () => {
      await plane.nats.stop();
      return { restore: () => sleep(2_000).then(() => plane.nats.start()), noResume: true };
    }));

  it('survives the tasks stream being lost mid-job: the operator re-creates it and re-sends the incomplete tasks', () =>
    survives('tasks-stream-lost', async () => {
      await jsm.streams.delete(streams.tasks);
      return {};
    }));

  it('survives the status stream being lost mid-job: tasks whose status was lost are re-sent', () =>
    survives('status-stream-lost', async (job) => {
      // Statuses not yet in the ledger are lost with the stream: their tasks are done again.
      const status = await jsm.consumers.info(streams.status, statusConsumerName(job.uid));
      await jsm.streams.delete(streams.status);
      return { lostStatuses: status.num_pending + status.num_ack_pending };
    }));

  it('survives the ledger etcd restarted mid-job', () =>
    survives('etcd-restarted', async () => {
      await plane.ledgerEtcd.stop();
      return { restore: () => sleep(3_000).then(() => plane.ledgerEtcd.start()), noResume: true };
    }));
});
