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
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { labels, streams } from '../../../api/names.ts';
import { statusConsumerName, taskConsumerName } from '../../../api/tasks.ts';
import type { ReplicationJob, ReplicationJobStatus } from '../../../api/v1alpha1/index.ts';
import { group, plural, version } from '../../../api/v1alpha1/index.ts';
import { LocalControlPlane } from '../../bed/controlPlane.ts';
import { PodRunner } from '../../podrunner/podRunner.ts';
import { countDestinationWrites } from '../../support/destinationWrites.ts';
import { installCrds, kubeConfigFor, readReplicationJob } from '../../support/kube.ts';
import { OperatorProcess } from '../../support/operatorProcess.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = 'infra-faults';
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-infra-faults-'));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** Objects per job: one per task, copied one at a time, so a job is mid-way for several seconds. */
const objectCount = 150;
const objectSize = 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const isTrue = (job: ReplicationJob, type: string) =>
  job.status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;

describe('a ReplicationJob through infrastructure faults', () => {
  let bed: LocalControlPlane;
  let objects: k8s.CustomObjectsApi;
  let core: k8s.CoreV1Api;
  let runner: PodRunner;
  let operator: OperatorProcess;
  let s3: S3Client;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    bed = await LocalControlPlane.start();
    const endpoints = bed.endpoints();
    const kc = kubeConfigFor(endpoints.kubeconfig);
    objects = kc.makeApiClient(k8s.CustomObjectsApi);
    core = kc.makeApiClient(k8s.CoreV1Api);
    await installCrds(kc);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: 's3-creds' },
        stringData: {
          AWS_ACCESS_KEY_ID: endpoints.s3.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: endpoints.s3.credentials.secretAccessKey,
        },
      },
    });
    s3 = new S3Client({
      endpoint: endpoints.s3.endpoint,
      region: endpoints.s3.region,
      credentials: endpoints.s3.credentials,
      forcePathStyle: true,
    });
    nc = await connect({ servers: endpoints.natsUrl, maxReconnectAttempts: -1 });
    jsm = await jetstreamManager(nc);
    runner = await PodRunner.start({
      kubeconfig: endpoints.kubeconfig,
      namespace,
      logDir: path.join(logDir, 'pods'),
      maxProbePeriodSeconds: 1,
    });
    operator = await OperatorProcess.start(endpoints, {
      identity: 'infra-faults-operator',
      watchNamespace: namespace,
      leaseNamespace: namespace,
      leaseName: 'ferry-infra-faults',
      logFile: path.join(logDir, 'operator.log'),
      extraEnv: { FERRY_WORKER_LOG_LEVEL: 'debug', FERRY_TASK_ACK_WAIT_MS: '3000' },
    });
  });

  afterAll(async () => {
    await operator?.stop();
    await runner?.stop();
    await nc?.close();
    s3?.destroy();
    await bed?.stop();
  });

  const readJob = (name: string) => readReplicationJob(objects, namespace, name);

  interface StartedJob {
    name: string;
    uid: string;
    destination: string;
    contents: Map<string, Buffer>;
  }

  /** Fills a source bucket with `objectCount` objects under `name/` and creates a job copying it. */
  async function startJob(name: string): Promise<StartedJob> {
    const source = `${name}-src`;
    const destination = `${name}-dst`;
    await s3.send(new CreateBucketCommand({ Bucket: source }));
    await s3.send(new CreateBucketCommand({ Bucket: destination }));
    const contents = new Map<string, Buffer>(
      Array.from(
        { length: objectCount },
        (_, i) => [`${name}/${String(i).padStart(4, '0')}.bin`, randomBytes(objectSize)] as [string, Buffer],
      ),
    );
    const entries = [...contents];
    for (let i = 0; i < entries.length; i += 25) {
      await Promise.all(
        entries
          .slice(i, i + 25)
          .map(([Key, Body]) => s3.send(new PutObjectCommand({ Bucket: source, Key, Body }))),
      );
    }
    const endpoint = bed.endpoints().s3.endpoint;
    const created = (await objects.createNamespacedCustomObject({
      group,
      version,
      namespace,
      plural,
      body: {
        apiVersion: `${group}/${version}`,
        kind: 'ReplicationJob',
        metadata: { name, namespace },
        spec: {
          source: { s3: { endpoint, bucket: source, credentialsSecretRef: { name: 's3-creds' } } },
          destination: { s3: { endpoint, bucket: destination, credentialsSecretRef: { name: 's3-creds' } } },
          tasks: { maxObjects: 1 },
          workers: { source: { concurrency: 1 }, destination: {} },
        },
      } satisfies ReplicationJob,
    })) as ReplicationJob;
    return { name, uid: created.metadata!.uid!, destination, contents };
  }

  /** Waits until some tasks succeeded; fails if the job is already done (the fault would prove nothing). */
  async function waitMidJob(job: StartedJob, succeeded = 15): Promise<void> {
    await waitFor(
      `${job.name}: ${succeeded} tasks to succeed`,
      async () => ((await readJob(job.name)).status?.tasks?.succeeded ?? 0) >= succeeded,
      90_000,
    );
  }

  /**
   * The tasks the job's source workers hold (delivered, not acknowledged):
   * what a fault may cost again. Read just before the fault; a test allows at
   * least one, as the job's one source worker may take its next task in the
   * milliseconds between this read and the fault.
   */
  async function tasksInFlight(job: StartedJob): Promise<number> {
    return (await jsm.consumers.info(streams.tasks, taskConsumerName(job.uid))).num_ack_pending;
  }

  async function assertMidJob(job: StartedJob): Promise<ReplicationJobStatus> {
    const current = await readJob(job.name);
    if (isTrue(current, 'Complete'))
      throw new Error(`${job.name} was Complete before the fault: the test proves nothing`);
    return current.status!;
  }

  async function workerPod(job: StartedJob, role: 'source' | 'destination'): Promise<string> {
    const pods = await core.listNamespacedPod({
      namespace,
      labelSelector: `${labels.jobUid}=${job.uid},${labels.role}=${role}`,
    });
    const running = pods.items.filter((p) => p.status?.phase === 'Running');
    if (running.length !== 1) throw new Error(`expected one running ${role} pod, found ${running.length}`);
    return running[0]!.metadata!.name!;
  }

  /**
   * Waits for the job to be Complete, then checks what a user relies on: the
   * destination holds exactly the source's objects, byte for byte; the
   * counters are exact; the fault cost at most one write per task in flight.
   */
  async function expectReplicated(job: StartedJob, inFlightAtFault: number, faultAt: number): Promise<void> {
    let done: ReplicationJob | undefined;
    // Recovered: the first task that succeeds after the fault is over (when this is called).
    const succeededBefore = (await readJob(job.name)).status?.tasks?.succeeded ?? 0;
    let progressAt: number | undefined;
    await waitFor(
      `${job.name} to be Complete after the fault`,
      async () => {
        done = await readJob(job.name);
        if (isTrue(done, 'Failed')) throw new Error(`${job.name} failed: ${JSON.stringify(done.status)}`);
        if ((done.status?.tasks?.succeeded ?? 0) > succeededBefore) progressAt ??= Date.now();
        return isTrue(done, 'Complete');
      },
      90_000,
    );
    const completeAfterMs = Date.now() - faultAt;
    const recoveredAfterMs = (progressAt ?? Date.now()) - faultAt;
    expect(done!.status).toMatchObject({
      phase: 'Succeeded',
      progressPercent: 100,
      objects: { planned: objectCount, copied: objectCount, failed: 0 },
      bytes: { planned: objectCount * objectSize, copied: objectCount * objectSize },
      tasks: { succeeded: objectCount, failed: 0, pending: 0, dispatched: 0, running: 0 },
    });

    const keys: string[] = [];
    let token: string | undefined;
    do {
      const out = await s3.send(
        new ListObjectsV2Command({ Bucket: job.destination, ContinuationToken: token }),
      );
      keys.push(...(out.Contents ?? []).map((o) => o.Key!));
      token = out.NextContinuationToken;
    } while (token);
    expect(keys.sort()).toEqual([...job.contents.keys()].sort());
    for (const [Key, body] of job.contents) {
      const got = await s3.send(new GetObjectCommand({ Bucket: job.destination, Key }));
      expect(sha(await got.Body!.transformToByteArray())).toBe(sha(body));
    }

    const writes = [...countDestinationWrites(runner.logDir).perKey]
      .filter(([key]) => key.startsWith(`${job.name}/`))
      .reduce((n, [, count]) => n + count, 0);
    console.log(
      `${job.name}: progress again ${recoveredAfterMs} ms and Complete ${completeAfterMs} ms after the fault; ${writes} writes for ${objectCount} objects, ${inFlightAtFault} tasks in flight at the fault; resumes ${done!.status!.resumes ?? 0}`,
    );
    expect(writes).toBeGreaterThanOrEqual(objectCount);
    expect(writes).toBeLessThanOrEqual(objectCount + inFlightAtFault);
  }

  it('survives a source worker pod killed mid-copy: its task goes to the replacement', async () => {
    const job = await startJob('source-killed');
    await waitMidJob(job);
    const pod = await workerPod(job, 'source');
    const inFlight = await tasksInFlight(job);
    expect(runner.killProcess(namespace, pod, 'SIGKILL')).toBe(true);
    const faultAt = Date.now();
    await assertMidJob(job);
    await expectReplicated(job, Math.max(inFlight, 1), faultAt);
  });

  it('survives a destination worker pod killed mid-copy', async () => {
    const job = await startJob('destination-killed');
    await waitMidJob(job);
    const pod = await workerPod(job, 'destination');
    const inFlight = await tasksInFlight(job);
    expect(runner.killProcess(namespace, pod, 'SIGKILL')).toBe(true);
    const faultAt = Date.now();
    await assertMidJob(job);
    await expectReplicated(job, Math.max(inFlight, 1), faultAt);
  });

  it('survives nats-server restarted mid-job: the file-backed streams keep the tasks and statuses', async () => {
    const job = await startJob('nats-restarted');
    await waitMidJob(job);
    const inFlight = await tasksInFlight(job);
    await bed.nats.stop();
    const faultAt = Date.now();
    await assertMidJob(job);
    await sleep(2_000);
    await bed.nats.start();
    await expectReplicated(job, Math.max(inFlight, 1), faultAt);
  });

  it('survives the tasks stream being lost mid-job: the operator re-creates it and re-sends the incomplete tasks', async () => {
    const job = await startJob('tasks-stream-lost');
    await waitMidJob(job);
    const inFlight = await tasksInFlight(job);
    await jsm.streams.delete(streams.tasks);
    const faultAt = Date.now();
    await assertMidJob(job);
    await expectReplicated(job, Math.max(inFlight, 1), faultAt);
  });

  it('survives the status stream being lost mid-job: tasks whose status was lost are re-sent', async () => {
    const job = await startJob('status-stream-lost');
    await waitMidJob(job);
    const inFlight = await tasksInFlight(job);
    // Statuses not yet in the ledger are lost with the stream: their tasks are done again.
    const status = await jsm.consumers.info(streams.status, statusConsumerName(job.uid));
    await jsm.streams.delete(streams.status);
    const faultAt = Date.now();
    await assertMidJob(job);
    await expectReplicated(job, Math.max(inFlight, 1) + status.num_pending + status.num_ack_pending, faultAt);
  });

  it('survives the ledger etcd restarted mid-job', async () => {
    const job = await startJob('etcd-restarted');
    await waitMidJob(job);
    const inFlight = await tasksInFlight(job);
    await bed.ledgerEtcd.stop();
    const faultAt = Date.now();
    await assertMidJob(job);
    await sleep(3_000);
    await bed.ledgerEtcd.start();
    await expectReplicated(job, inFlight, faultAt);
  });
});
