// Tasks out through JetStream, status back into the ledger: against the bed's
// real nats-server and etcd.
import { randomUUID } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { streams } from '../../../api/names.ts';
import { statusSubject, type StatusMessage, type TaskMessage } from '../../../api/tasks.ts';
import { dispatchTasks } from '../../../operator/dispatch/dispatcher.ts';
import { StatusIngestor } from '../../../operator/dispatch/statusIngest.ts';
import {
  ensureJobConsumers,
  ensureStreams,
  statusConsumerName,
  taskConsumerName,
} from '../../../operator/dispatch/streams.ts';
import { TaskLedger } from '../../../operator/ledger/taskLedger.ts';
import { taskId, type PlannedTask } from '../../../operator/planner/taskPlanner.ts';
import { createLogger } from '../../../common/logging.ts';
import { connectEngineClients, type EngineClients } from '../../support/engineClients.ts';

const log = createLogger('test', 'error');

function copyTask(position: number): PlannedTask {
  return { kind: 'copy', id: taskId(position), objects: [{ key: `k${position}`, size: 4096 }], bytes: 4096 };
}

describe('dispatching tasks and ingesting their status', () => {
  let clients: EngineClients;
  let jsm: JetStreamManager;
  let js: JetStreamClient;
  let etcd: Etcd3;

  beforeAll(async () => {
    clients = await connectEngineClients();
    ({ jsm, js, etcd } = clients);
    await ensureStreams(jsm); // idempotent: a second call changes nothing
  });
  afterAll(() => clients.close());

  async function newJob(tasks: number) {
    const uid = randomUUID();
    const ledger = new TaskLedger(etcd, uid);
    await ledger.ensureJob();
    const planned = Array.from({ length: tasks }, (_, i) => copyTask(i));
    await ledger.recordPlan(planned, {}, true);
    await ensureJobConsumers(jsm, uid);
    return { uid, ledger, planned };
  }

  /** Sends every planned task's first attempt. */
  const dispatchFirstAttempts = (uid: string, ledger: TaskLedger, planned: PlannedTask[]) =>
    dispatchTasks(
      { js, ledger, jobUid: uid },
      planned.map((task) => ({ task, epoch: 1, attempt: 1 })),
    );

  async function report(uid: string, messages: Omit<StatusMessage, 'jobUid' | 'worker'>[]) {
    for (const m of messages)
      await js.publish(statusSubject(uid), JSON.stringify({ jobUid: uid, worker: 'source-0', ...m }));
  }

  it('publishes each attempt of a task once, however often dispatch is repeated, and marks it DISPATCHED', async () => {
    const { uid, ledger, planned } = await newJob(3);
    const dispatches = planned.map((task) => ({ task, epoch: 1, attempt: 1 }));
    await dispatchTasks({ js, ledger, jobUid: uid }, dispatches);
    await dispatchTasks({ js, ledger, jobUid: uid }, dispatches); // e.g. an operator restarted mid-dispatch
    const consumer = await js.consumers.get(streams.tasks, taskConsumerName(uid));
    expect((await consumer.info()).num_pending).toBe(3);
    const first = await consumer.next({ expires: 2_000 });
    const message = JSON.parse(first!.string()) as TaskMessage;
    expect(message).toMatchObject({
      jobUid: uid,
      epoch: 1,
      attempt: 1,
      task: { id: taskId(0), kind: 'copy' },
    });
    first!.ack();
    expect(await ledger.countByState()).toMatchObject({ DISPATCHED: 3 });
  });

  it('commits status to the ledger and only then acknowledges it', async () => {
    const { uid, ledger, planned } = await newJob(4);
    await dispatchFirstAttempts(uid, ledger, planned);
    await report(uid, [
      ...planned.map((t) => ({ taskId: t.id, epoch: 1, attempt: 1, state: 'RUNNING' as const })),
      ...planned.slice(0, 3).map((t) => ({
        taskId: t.id,
        epoch: 1,
        attempt: 1,
        state: 'SUCCEEDED' as const,
        objectsDone: 1,
        bytesDone: 4096,
      })),
    ]);
    const ingestor = new StatusIngestor(
      { ledger, jobUid: uid },
      await js.consumers.get(streams.status, statusConsumerName(uid)),
      log,
    );
    const outcomes = await ingestor.ingestBatch(100, 2_000);
    expect(outcomes.filter((o) => o.apply)).toHaveLength(7);
    expect(await ledger.countByState()).toMatchObject({ SUCCEEDED: 3, RUNNING: 1 });
    const info = await jsm.consumers.info(streams.status, statusConsumerName(uid));
    expect(info.num_ack_pending + info.num_pending).toBe(0); // acknowledged, and so removed from the work queue
  });

  it('ignores a status for an attempt the ledger never issued, so a forged SUCCEEDED completes nothing', async () => {
    // Anyone who can publish on the status subject could otherwise finish a task with the ledger's epoch + 1.
    const { uid, ledger, planned } = await newJob(2);
    await dispatchFirstAttempts(uid, ledger, planned);
    const forged = { taskId: planned[0]!.id, state: 'SUCCEEDED' as const, objectsDone: 1, bytesDone: 4096 };
    await report(uid, [
      { ...forged, epoch: 2, attempt: 1 },
      { ...forged, epoch: 1, attempt: 7 },
      { taskId: planned[1]!.id, epoch: 1, attempt: 1, state: 'SUCCEEDED' as const },
    ]);
    const ingestor = new StatusIngestor(
      { ledger, jobUid: uid },
      await js.consumers.get(streams.status, statusConsumerName(uid)),
      log,
    );
    const outcomes = await ingestor.ingestBatch(100, 2_000);
    expect(outcomes.map((o) => (o.apply ? 'applied' : o.why))).toEqual(['unissued', 'unissued', 'applied']);
    expect(await ledger.task(planned[0]!.id)).toMatchObject({ state: 'DISPATCHED', epoch: 1, attempt: 1 });
    expect(await ledger.countByState()).toMatchObject({ SUCCEEDED: 1, DISPATCHED: 1 });
  });

  it('takes every waiting status in one pull without waiting out its expiry, asking the server for the count only once', async () => {
    const { uid, ledger, planned } = await newJob(6);
    await dispatchFirstAttempts(uid, ledger, planned);
    const consumer = await js.consumers.get(streams.status, statusConsumerName(uid));
    let infoCalls = 0;
    const counted = new Proxy(consumer, {
      get: (target, property, receiver) =>
        property === 'info'
          ? (...args: unknown[]) => (infoCalls++, target.info(...(args as [boolean?])))
          : Reflect.get(target, property, receiver),
    });
    const ingestor = new StatusIngestor({ ledger, jobUid: uid }, counted, log);
    const succeeded = (from: number, to: number) =>
      planned
        .slice(from, to)
        .map((t) => ({ taskId: t.id, epoch: 1, attempt: 1, state: 'SUCCEEDED' as const }));
    await report(uid, succeeded(0, 2));
    expect(await ingestor.ingestBatch(512, 5_000)).toHaveLength(2);
    for (const [from, to] of [
      [2, 5],
      [5, 6],
    ] as const) {
      await report(uid, succeeded(from, to));
      // Asking for more than is waiting would hold the pull for its whole 5 s expiry.
      const started = performance.now();
      let taken = 0;
      while (taken < to - from) taken += (await ingestor.ingestBatch(512, 5_000)).length;
      expect(performance.now() - started).toBeLessThan(2_000);
    }
    expect(await ledger.countByState()).toMatchObject({ SUCCEEDED: 6 });
    expect(infoCalls).toBe(1);
  });

  it('loses and double-counts nothing when the operator died after committing but before acknowledging', async () => {
    const { uid, ledger, planned } = await newJob(2);
    await dispatchFirstAttempts(uid, ledger, planned);
    await report(
      uid,
      planned.map((t) => ({ taskId: t.id, epoch: 1, attempt: 1, state: 'SUCCEEDED' as const })),
    );
    // The dead operator's work: committed to etcd, never acknowledged on JetStream.
    await ledger.applyUpdates(
      planned.map((t) => ({ taskId: t.id, epoch: 1, attempt: 1, state: 'SUCCEEDED' as const })),
    );

    const restarted = new StatusIngestor(
      { ledger, jobUid: uid },
      await js.consumers.get(streams.status, statusConsumerName(uid)),
      log,
    );
    const outcomes = await restarted.ingestBatch(100, 2_000);
    expect(outcomes.map((o) => (o.apply ? 'applied' : o.why))).toEqual(['duplicate', 'duplicate']);
    expect(await ledger.countByState()).toMatchObject({ SUCCEEDED: 2, DISPATCHED: 0 });
    const info = await jsm.consumers.info(streams.status, statusConsumerName(uid));
    expect(info.num_ack_pending + info.num_pending).toBe(0);
  });

  it('discards an invalid status message without blocking the valid ones', async () => {
    const { uid, ledger, planned } = await newJob(1);
    await dispatchTasks({ js, ledger, jobUid: uid }, [{ task: planned[0]!, epoch: 1, attempt: 1 }]);
    await js.publish(statusSubject(uid), 'this is not JSON');
    await js.publish(
      statusSubject(uid),
      JSON.stringify({ jobUid: uid, taskId: taskId(0), epoch: 1, attempt: 1, state: 'DONE', worker: 'w' }),
    );
    await report(uid, [{ taskId: taskId(0), epoch: 1, attempt: 1, state: 'SUCCEEDED' }]);
    const ingestor = new StatusIngestor(
      { ledger, jobUid: uid },
      await js.consumers.get(streams.status, statusConsumerName(uid)),
      log,
    );
    expect(await ingestor.ingestBatch(100, 2_000)).toEqual([
      { taskId: taskId(0), state: 'SUCCEEDED', apply: true },
    ]);
    expect(await ledger.countByState()).toMatchObject({ SUCCEEDED: 1 });
    const info = await jsm.consumers.info(streams.status, statusConsumerName(uid));
    expect(info.num_ack_pending + info.num_pending).toBe(0); // the invalid ones were terminated, not left to redeliver
  });

  it('fences off the status of an older epoch after a resume', async () => {
    const { uid, ledger, planned } = await newJob(1);
    await dispatchTasks({ js, ledger, jobUid: uid }, [{ task: planned[0]!, epoch: 1, attempt: 1 }]);
    const epoch = await ledger.openEpoch();
    await dispatchTasks({ js, ledger, jobUid: uid }, [{ task: planned[0]!, epoch, attempt: 2 }]);
    await report(uid, [
      {
        taskId: taskId(0),
        epoch: 1,
        attempt: 1,
        state: 'FAILED',
        error: { kind: 'retryable', message: 'old worker' },
      },
    ]);
    const ingestor = new StatusIngestor(
      { ledger, jobUid: uid },
      await js.consumers.get(streams.status, statusConsumerName(uid)),
      log,
    );
    expect(await ingestor.ingestBatch(100, 2_000)).toEqual([
      { taskId: taskId(0), state: 'FAILED', apply: false, why: 'stale' },
    ]);
    expect(await ledger.countByState()).toMatchObject({ DISPATCHED: 1, FAILED: 0 });
  });
});
