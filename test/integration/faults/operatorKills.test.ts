// The operator SIGKILLed in each phase of a job — planning, dispatch, status
// ingestion — and a new operator taking over. Real kube-apiserver, etcd, NATS
// and S3; worker pods run by the pod runner; the operator as its own process.
// Each kill is aimed at its phase by the operator's debug log and checked
// against the ledger at the moment of the kill: a kill that missed its phase
// fails the test instead of passing it vacuously. Each job must end with the
// destination byte-identical to the source, exact counters, and no more
// destination writes than the objects plus the tasks in the workers' hands at
// the fault (source replicas × concurrency, one object per task here).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { Etcd3 } from 'etcd3';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { labels, streams } from '../../../api/names.ts';
import { taskConsumerName, tasksSubject, type TaskMessage } from '../../../api/tasks.ts';
import { group, plural, version, type ReplicationJob } from '../../../api/v1alpha1/index.ts';
import { TaskLedger, type JobRecord } from '../../../operator/ledger/taskLedger.ts';
import type { TaskState } from '../../../operator/ledger/taskState.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { bucketHashes, bucketWith, hashes } from '../../support/bucketContents.ts';
import { countDestinationWrites } from '../../support/destinationWrites.ts';
import { OperatorProcess } from '../../support/operatorProcess.ts';
import {
  finished,
  s3CredentialsSecret,
  startReplicationBed,
  type ReplicationBed,
} from '../../support/replicationBed.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = `operator-kills-${Date.now()}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-operator-kills-'));
const objectCount = 800;
const objectSize = 1024;
const sourceReplicas = 2;
const sourceConcurrency = 1;
/** Tasks a source worker may hold at once, one object each: what a fault may cost twice. */
const inFlightBound = sourceReplicas * sourceConcurrency;
/** Task messages queued when the operator is killed during dispatch. */
const queuedAtKill = 100;

interface LogLine {
  message?: string;
  name?: string;
  [field: string]: unknown;
}

/** Waits (polling every 20 ms) for a line of the operator's log about `job` that `match` accepts. */
async function waitForLog(
  file: string,
  job: string,
  match: (line: LogLine) => boolean,
  timeoutMs = 60_000,
): Promise<LogLine> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // not written yet
    }
    for (const raw of text.split('\n')) {
      if (!raw.includes(job)) continue;
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        continue;
      }
      if (line.name === job && match(line)) return line;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for a log line about ${job} in ${file}`);
}

/** The epochs in which the workers carried out each task of `job`, from the pods' logs ('task done'). */
function epochsDone(podLogDir: string, job: string): Map<string, Set<number>> {
  const done = new Map<string, Set<number>>();
  for (const file of readdirSync(podLogDir).filter((f) => f.endsWith('.log'))) {
    for (const raw of readFileSync(path.join(podLogDir, file), 'utf8').split('\n')) {
      if (!raw.includes('task done')) continue;
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        continue; // a line cut short by a SIGKILL
      }
      if (line.message !== 'task done' || line.job !== job) continue;
      const task = String(line.task);
      done.set(task, (done.get(task) ?? new Set()).add(Number(line.epoch)));
    }
  }
  return done;
}

describe('the operator SIGKILLed mid-job', () => {
  let bed: ReplicationBed;
  let etcd: Etcd3;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  /** The operator currently leading; each test kills it and starts the next. */
  let operator: OperatorProcess;
  let generation = 1;

  beforeAll(async () => {
    bed = await startReplicationBed({
      namespace,
      name: 'operator-kills',
      logDir,
      operatorEnv: { FERRY_WORKER_LOG_LEVEL: 'debug' },
    });
    operator = bed.operator;
    etcd = new Etcd3({ hosts: bedEndpoints().ledgerEtcdUrl });
    nc = await connect({ servers: bedEndpoints().natsUrl });
    jsm = await jetstreamManager(nc);
  });

  afterAll(async () => {
    await operator?.stop();
    await bed?.stop();
    etcd?.close();
    await nc?.close();
  });

  /** Pauses (SIGSTOP) or resumes (SIGCONT) the processes of the job's source workers; how many it reached. */
  async function signalSourceWorkers(uid: string, signal: 'SIGSTOP' | 'SIGCONT'): Promise<number> {
    const labelSelector = `${labels.jobUid}=${uid},${labels.role}=source`;
    const pods = (await bed.core.listNamespacedPod({ namespace, labelSelector })).items;
    return pods.filter((pod) => bed.runner.killProcess(namespace, pod.metadata!.name!, signal)).length;
  }

  /** Waits (polling every 20 ms) until at least `count` of the job's task messages wait for a worker. */
  async function waitForQueuedTasks(uid: string, count: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const info = await jsm.consumers.info(streams.tasks, taskConsumerName(uid)).catch(() => undefined);
      if (info && info.num_pending >= count) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`timed out waiting for ${count} queued task messages of job ${uid}`);
  }

  /**
   * The job's task messages the tasks stream holds now — queued, or in a
   * worker's hands and not acknowledged — read without consuming them (a
   * work-queue stream allows no second consumer).
   */
  async function taskMessagesInStream(uid: string): Promise<TaskMessage[]> {
    const subject = tasksSubject(uid);
    const { state } = await jsm.streams.info(streams.tasks, { subjects_filter: subject });
    if (!state.subjects?.[subject]) return [];
    const held: TaskMessage[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(streams.tasks, { seq }).catch(() => null); // acknowledged since
      if (m?.subject === subject) held.push(m.json<TaskMessage>());
    }
    return held;
  }

  const operatorLog = () => operator.options.logFile;

  async function startNextOperator(): Promise<void> {
    generation++;
    operator = await OperatorProcess.start(bedEndpoints(), {
      identity: `operator-kills-operator-${generation}`,
      watchNamespace: namespace,
      leaseNamespace: namespace,
      leaseName: 'ferry-operator-kills',
      logFile: path.join(logDir, `operator-${generation}.log`),
      extraEnv: { FERRY_WORKER_LOG_LEVEL: 'debug' },
    });
  }

  /** A source bucket of `objectCount` random objects, an empty destination, and a job of one object per task. */
  async function startJob(name: string) {
    const source = `${name}-src-${Date.now()}`;
    const destination = `${name}-dst-${Date.now()}`;
    const contents = new Map<string, Buffer>(
      Array.from({ length: objectCount }, (_, i) => [
        // Keys of their own per job: the pod logs that writes are counted from are shared.
        `${name}/${String(i).padStart(5, '0')}.bin`,
        randomBytes(objectSize),
      ]),
    );
    await bucketWith(bed.s3, source, contents);
    await bed.s3.send(new CreateBucketCommand({ Bucket: destination }));
    const endpoint = bedEndpoints().s3.endpoint;
    const credentialsSecretRef = { name: s3CredentialsSecret };
    const job: ReplicationJob = {
      apiVersion: `${group}/${version}`,
      kind: 'ReplicationJob',
      metadata: { name, namespace },
      spec: {
        source: { s3: { endpoint, bucket: source, credentialsSecretRef } },
        destination: { s3: { endpoint, bucket: destination, credentialsSecretRef } },
        tasks: { maxObjects: 1 },
        workers: {
          source: { replicas: sourceReplicas, concurrency: sourceConcurrency },
          destination: {},
        },
      },
    };
    await bed.objects.createNamespacedCustomObject({ group, version, namespace, plural, body: job });
    return { contents, destination };
  }

  async function ledgerAt(name: string): Promise<{ record: JobRecord; states: Record<TaskState, number> }> {
    const uid = (await bed.readJob(name)).metadata!.uid!;
    const ledger = new TaskLedger(etcd, uid);
    return { record: (await ledger.job())!.record, states: await ledger.countByState() };
  }

  /** Waits for Complete after the restart and checks everything a user would. */
  async function expectCompleteAndIdentical(
    name: string,
    contents: Map<string, Buffer>,
    destination: string,
  ): Promise<{ writes: number }> {
    let done: ReplicationJob | undefined;
    await waitFor(
      `${name} to be Complete after the restart`,
      async () => {
        done = await bed.readJob(name);
        if (finished(done, 'Failed')) throw new Error(`${name} failed: ${JSON.stringify(done.status)}`);
        return finished(done);
      },
      240_000,
    );
    expect(done!.status).toMatchObject({
      phase: 'Succeeded',
      progressPercent: 100,
      objects: { planned: objectCount, copied: objectCount, skipped: 0, failed: 0 },
      bytes: { planned: objectCount * objectSize, copied: objectCount * objectSize },
      tasks: { succeeded: objectCount, failed: 0, pending: 0, dispatched: 0, running: 0 },
      resumes: 1,
    });
    expect(await bucketHashes(bed.s3, destination)).toEqual(hashes(contents));
    const perKey = countDestinationWrites(bed.runner.logDir).perKey;
    const writes = [...contents.keys()].reduce((n, key) => n + (perKey.get(key) ?? 0), 0);
    expect(writes).toBeGreaterThanOrEqual(objectCount);
    return { writes };
  }

  it('during planning: the new operator resumes planning from the etcd checkpoint, and nothing is written twice', async () => {
    const { contents, destination } = await startJob('planning');
    await waitForLog(
      operatorLog(),
      'planning',
      (l) => l.message === 'plan checkpoint recorded' && l.done === false,
    );
    await operator.kill();
    const { record } = await ledgerAt('planning');
    if (record.planComplete || record.checkpoint.tasks === 0)
      throw new Error(`the kill missed planning: ${JSON.stringify(record.checkpoint)}`);

    await startNextOperator();
    const resumed = await waitForLog(
      operatorLog(),
      'planning',
      (l) => l.message === 'planning resumed from the checkpoint',
    );
    // Resumed where the killed planner's last checkpoint stood, not from the start.
    expect(resumed.tasks).toBe(record.checkpoint.tasks);
    expect(resumed.after).toBe(record.checkpoint.sourceAfter);
    const { writes } = await expectCompleteAndIdentical('planning', contents, destination);
    // The kill came at the first checkpoints: the copies sent by then were withdrawn at the
    // take-over or done, and none ran twice.
    expect(writes).toBe(objectCount);
    console.log(
      `killed during planning at task ${record.checkpoint.tasks}: ${writes} writes for ${objectCount} objects`,
    );
  }, 360_000);

  /**
   * With the operator killed during dispatch and the source workers held, the
   * next operator takes over: checks that it withdrew every queued message of
   * the old epoch from the real stream.
   */
  async function takeOverDispatch(uid: string) {
    const { states, record } = await ledgerAt('dispatch');
    if (states.PENDING === 0 && record.planComplete)
      throw new Error(`the kill missed dispatch: every task was already sent (${JSON.stringify(states)})`);
    const oldEpoch = record.epoch;
    const queued = (await taskMessagesInStream(uid)).filter((m) => m.epoch === oldEpoch).length;
    expect(queued).toBeGreaterThanOrEqual(queuedAtKill);

    await startNextOperator();
    const started = await waitForLog(operatorLog(), 'dispatch', (l) => l.message === 'task engine started');
    expect(Number(started.epoch)).toBe(oldEpoch + 1);
    expect(Number(started.purgedTasks)).toBeGreaterThanOrEqual(queued);
    // Withdrawn: from the take-over on, the stream holds none of the old epoch's messages.
    const epochsHeld = (await taskMessagesInStream(uid)).map((m) => m.epoch);
    expect(epochsHeld.filter((epoch) => epoch <= oldEpoch)).toEqual([]);
    return { states, oldEpoch, withdrawn: queued };
  }

  it('during dispatch: queued tasks of the old epoch are withdrawn, the rest is sent once', async () => {
    const { contents, destination } = await startJob('dispatch');
    const uid = (await bed.readJob('dispatch')).metadata!.uid!;
    // Copies go out as planning records them: killed once some are queued in JetStream, most still unsent.
    await waitForQueuedTasks(uid, queuedAtKill);
    await operator.kill();
    // The source workers are held while no operator leads (else they would carry out every
    // queued task before the next operator takes over): what they have not taken stays queued.
    expect(await signalSourceWorkers(uid, 'SIGSTOP')).toBe(sourceReplicas);
    const { states, oldEpoch, withdrawn } = await takeOverDispatch(uid).finally(() =>
      signalSourceWorkers(uid, 'SIGCONT'),
    );

    const { writes } = await expectCompleteAndIdentical('dispatch', contents, destination);
    // A withdrawn message is never carried out: only the tasks in a worker's hands at the
    // take-over ran in the old epoch and again in the new one.
    const twice = [...epochsDone(bed.runner.logDir, 'dispatch').values()].filter(
      (epochs) => epochs.has(oldEpoch) && [...epochs].some((e) => e > oldEpoch),
    );
    expect(twice.length).toBeLessThanOrEqual(inFlightBound);
    expect(writes).toBeLessThanOrEqual(objectCount + inFlightBound);
    console.log(
      `killed during dispatch with ${states.DISPATCHED} tasks sent, ${objectCount - states.DISPATCHED} unsent or unplanned; ${withdrawn} withdrawn at the take-over, ${twice.length} run in both epochs: ${writes} writes for ${objectCount} objects`,
    );
  }, 360_000);

  it('during status ingestion: status reported meanwhile is taken over, only in-hand tasks may run twice', async () => {
    const { contents, destination } = await startJob('ingestion');
    await waitForLog(operatorLog(), 'ingestion', (l) => l.message === 'tasks sent', 120_000);
    await waitFor(
      'some statuses to be ingested',
      async () => (await ledgerAt('ingestion')).states.SUCCEEDED >= 50,
      120_000,
    );
    await operator.kill();
    const { states } = await ledgerAt('ingestion');
    if (states.PENDING > 0 || states.SUCCEEDED === objectCount)
      throw new Error(`the kill missed status ingestion: ${JSON.stringify(states)}`);

    await startNextOperator();
    // The workers went on while no operator listened: their reports were taken into the ledger
    // before the new epoch fenced off the old one, so those tasks were not sent again.
    const started = await waitForLog(operatorLog(), 'ingestion', (l) => l.message === 'task engine started');
    expect(Number(started.drainedStatus)).toBeGreaterThan(0);
    const { writes } = await expectCompleteAndIdentical('ingestion', contents, destination);
    expect(writes).toBeLessThanOrEqual(objectCount + inFlightBound);
    console.log(
      `killed during ingestion with ${states.SUCCEEDED} tasks recorded SUCCEEDED: ${writes} writes for ${objectCount} objects`,
    );
  }, 360_000);
});
