// Resume after a failure, through resumeJob — the start every task engine
// makes — against the bed's real etcd and nats-server.
import { randomUUID } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { ledgerPrefix, streams } from '../../../api/names.ts';
import { statusSubject, type PlannedTask, type StatusMessage, type TaskMessage } from '../../../api/tasks.ts';
import { silentLogger } from '../../../common/logging.ts';
import { dispatchTasks } from '../../../operator/dispatch/dispatcher.ts';
import type { JobChannels } from '../../../operator/dispatch/jobChannels.ts';
import { ensureJobConsumers, taskConsumerName } from '../../../operator/dispatch/streams.ts';
import { TaskLedger } from '../../../operator/ledger/taskLedger.ts';
import { taskId } from '../../../operator/planner/taskPlanner.ts';
import { resumeJob } from '../../../operator/resume/resumeJob.ts';
import type { SendSummary } from '../../../operator/resume/sendIncompleteTasks.ts';
import { connectEngineClients, type EngineClients } from '../../support/engineClients.ts';

describe('resume after a failure', () => {
  let clients: EngineClients;
  let jsm: JetStreamManager;
  let js: JetStreamClient;
  let etcd: Etcd3;

  beforeAll(async () => {
    clients = await connectEngineClients();
    ({ jsm, js, etcd } = clients);
  });
  afterAll(() => clients.close());

  /** Drains the job's task consumer, acknowledging, as source workers would. */
  async function takeSentTasks(uid: string): Promise<TaskMessage[]> {
    const consumer = await js.consumers.get(streams.tasks, taskConsumerName(uid));
    const sent: TaskMessage[] = [];
    const batch = await consumer.fetch({ max_messages: 1000, expires: 1_000 });
    for await (const m of batch) {
      sent.push(JSON.parse(m.string()) as TaskMessage);
      m.ack();
    }
    return sent;
  }

  const sentAs = (messages: TaskMessage[]) =>
    messages.map((m) => `${m.task.id}@${m.epoch}.${m.attempt}`).sort();

  /** A job's ledger and consumers, and `n` single-object copy tasks (not yet recorded). */
  async function newJob(n: number) {
    const uid = randomUUID();
    const ledger = new TaskLedger(etcd, uid);
    await ledger.ensureJob();
    await ensureJobConsumers(jsm, uid);
    const copies: PlannedTask[] = Array.from({ length: n }, (_, i) => ({
      kind: 'copy',
      id: taskId(i),
      objects: [{ key: `k${i}`, size: 1 }],
      bytes: 1,
    }));
    const job: JobChannels = { jobUid: uid, ledger, js };
    return { uid, ledger, copies, job };
  }

  /** What a worker reports on the status subject, whether or not an operator listens. */
  async function report(uid: string, updates: Omit<StatusMessage, 'jobUid' | 'worker'>[]) {
    for (const u of updates)
      await js.publish(statusSubject(uid), JSON.stringify({ jobUid: uid, worker: 'source-0', ...u }));
  }

  /** A new engine's start on a complete plan; `retryRequest`: the job's spec.retryRequest. */
  async function resume(job: JobChannels, retryRequest?: string): Promise<SendSummary> {
    const resumed = await resumeJob(job, jsm, {
      spec: { retry: { maxAttempts: 5 }, ...(retryRequest !== undefined ? { retryRequest } : {}) },
      log: silentLogger,
    });
    if (resumed.afterPlan?.kind !== 'sent')
      throw new Error(`nothing sent: ${JSON.stringify(resumed.afterPlan)}`);
    return resumed.afterPlan.sent;
  }

  it('re-sends only the tasks that did not succeed, in a new epoch, holding deletes until every copy succeeded', async () => {
    const { uid, ledger, copies, job } = await newJob(8);
    const del: PlannedTask = { kind: 'delete', id: taskId(8), keys: ['old'] };
    await ledger.recordPlan([...copies, del], {}, true);
    await dispatchTasks(
      job,
      copies.map((task) => ({ task, epoch: 1, attempt: 1 })),
    );
    await takeSentTasks(uid); // the first epoch's messages, consumed by workers that then died
    // Progress before the crash: 4 succeeded, one running, one failed (retryable), one failed for good, one just dispatched.
    await ledger.applyUpdates([
      ...[0, 1, 2, 3].map((i) => ({ taskId: taskId(i), state: 'SUCCEEDED' as const, epoch: 1, attempt: 1 })),
      { taskId: taskId(4), state: 'RUNNING', epoch: 1, attempt: 1 },
      {
        taskId: taskId(5),
        state: 'FAILED',
        epoch: 1,
        attempt: 1,
        error: { kind: 'retryable', message: 'timeout' },
      },
      {
        taskId: taskId(6),
        state: 'FAILED',
        epoch: 1,
        attempt: 1,
        error: { kind: 'permanent', message: 'AccessDenied', keys: ['k6'] },
      },
    ]);

    const summary = await resume(job);
    expect(summary).toMatchObject({ epoch: 2, succeeded: 4, resent: 3, deletesHeld: 1 });
    expect(summary.failed).toEqual([
      // The record keeps the failures with their reasons (a bare key gets the error's message).
      {
        taskId: taskId(6),
        error: {
          kind: 'permanent',
          message: 'AccessDenied',
          failures: [{ key: 'k6', reason: 'AccessDenied' }],
          failedCount: 1,
        },
      },
    ]);
    expect(sentAs(await takeSentTasks(uid))).toEqual([
      `${taskId(4)}@2.2`,
      `${taskId(5)}@2.2`,
      `${taskId(7)}@2.2`,
    ]);

    // The user fixes the permissions and asks for a retry; every copy then succeeds.
    const retry = await resume(job, 'permissions-fixed');
    expect(retry).toMatchObject({ epoch: 3, resent: 4, deletesHeld: 1, failed: [] });
    expect((await takeSentTasks(uid)).map((m) => m.task.id).sort()).toEqual([
      taskId(4),
      taskId(5),
      taskId(6),
      taskId(7),
    ]);
    await ledger.applyUpdates(
      [4, 5, 6, 7].map((i) => ({ taskId: taskId(i), state: 'SUCCEEDED' as const, epoch: 3, attempt: 3 })),
    );

    // The same retry request, already acted on, re-sends nothing given up; the copies done, the delete goes.
    const last = await resume(job, 'permissions-fixed');
    expect(last).toMatchObject({ epoch: 4, succeeded: 8, resent: 1, deletesHeld: 0 });
    expect((await takeSentTasks(uid)).map((m) => m.task)).toEqual([del]);
    await ledger.remove();
  });

  it("withdraws the older epochs' task messages still queued, so no worker carries a task out twice", async () => {
    const { uid, ledger, copies, job } = await newJob(4);
    await ledger.recordPlan(copies, {}, true);
    // Dispatched, and the operator died before any worker took them: all four are still queued.
    await dispatchTasks(
      job,
      copies.map((task) => ({ task, epoch: 1, attempt: 1 })),
    );
    await ledger.applyUpdates([{ taskId: taskId(0), state: 'SUCCEEDED', epoch: 1, attempt: 1 }]);

    const summary = await resume(job);
    expect(summary).toMatchObject({ epoch: 2, succeeded: 1, resent: 3 });
    // Only the new epoch's messages are queued: none of epoch 1 is left for a worker to carry out.
    expect(sentAs(await takeSentTasks(uid))).toEqual([
      `${taskId(1)}@2.2`,
      `${taskId(2)}@2.2`,
      `${taskId(3)}@2.2`,
    ]);
    await ledger.remove();
  });

  it('counts what the workers reported while no operator listened, and does not send those tasks again', async () => {
    const { uid, ledger, copies, job } = await newJob(3);
    await ledger.recordPlan(copies, {}, true);
    await dispatchTasks(
      job,
      copies.map((task) => ({ task, epoch: 1, attempt: 1 })),
    );
    await takeSentTasks(uid);
    // The operator died; the workers finished two of the three and reported it.
    await report(
      uid,
      [0, 1].flatMap((i) => [
        { taskId: taskId(i), state: 'RUNNING' as const, epoch: 1, attempt: 1 },
        {
          taskId: taskId(i),
          state: 'SUCCEEDED' as const,
          epoch: 1,
          attempt: 1,
          objectsDone: 1,
          bytesDone: 1,
        },
      ]),
    );

    const summary = await resume(job);
    expect(summary).toMatchObject({ epoch: 2, succeeded: 2, resent: 1 });
    expect(sentAs(await takeSentTasks(uid))).toEqual([`${taskId(2)}@2.2`]);
    expect(await ledger.countByState()).toMatchObject({ SUCCEEDED: 2, DISPATCHED: 1 });
    await ledger.remove();
  });

  it('goes on with a plan interrupted part-way: drops what lay past its checkpoint, re-sends the copies it recorded', async () => {
    const { uid, ledger, copies, job } = await newJob(4);
    const del: PlannedTask = { kind: 'delete', id: taskId(2), keys: ['old'] };
    await ledger.recordPlan([copies[0]!, copies[1]!, del], { sourceAfter: 'k1' });
    await dispatchTasks(job, [{ task: copies[0]!, epoch: 1, attempt: 1 }]);
    await takeSentTasks(uid);
    await ledger.applyUpdates([{ taskId: taskId(0), state: 'SUCCEEDED', epoch: 1, attempt: 1 }]);
    // The killed planner had written one more task of its next step, not yet covered by the checkpoint.
    await etcd.put(`${ledgerPrefix(uid)}tasks/${taskId(3)}`).value(
      JSON.stringify({
        kind: 'copy',
        objects: 1,
        bytes: 1,
        state: 'PENDING',
        epoch: 0,
        attempt: 0,
        updatedAt: '',
      }),
    );

    const resent: string[] = [];
    const resumed = await resumeJob(job, jsm, {
      spec: {},
      log: silentLogger,
      onResent: (tasks) => resent.push(...tasks.map((t) => t.id)),
    });
    expect(resumed).toMatchObject({ epoch: 2, record: { planComplete: false, checkpoint: { tasks: 3 } } });
    expect(resumed.afterPlan).toBeUndefined(); // planning goes on from the checkpoint
    expect(await ledger.task(taskId(3))).toBeUndefined();
    // The unsent copy goes out; the delete waits for the whole plan.
    expect(resent).toEqual([taskId(1)]);
    expect(sentAs(await takeSentTasks(uid))).toEqual([`${taskId(1)}@2.1`]);
    expect(await ledger.task(taskId(2))).toMatchObject({ state: 'PENDING' });
    await ledger.remove();
  });

  it('fails a task whose definition the ledger lost or damaged, naming it, and re-sends the others', async () => {
    const { uid, ledger, copies, job } = await newJob(3);
    await ledger.recordPlan(copies, {}, true);
    // One definition damaged (zlib's checksum no longer matches), one gone.
    const damaged = Buffer.from((await etcd.get(`${ledgerPrefix(uid)}defs/${taskId(1)}`).buffer())!);
    damaged[damaged.length - 1]! ^= 0xff;
    await etcd.put(`${ledgerPrefix(uid)}defs/${taskId(1)}`).value(damaged);
    await etcd.delete().key(`${ledgerPrefix(uid)}defs/${taskId(2)}`);

    const summary = await resume(job);
    expect(summary.resent).toBe(1);
    expect((await takeSentTasks(uid)).map((m) => m.task.id)).toEqual([taskId(0)]);
    expect(summary.failed.map((f) => f.taskId)).toEqual([taskId(1), taskId(2)]);
    const t1 = await ledger.task(taskId(1));
    const t2 = await ledger.task(taskId(2));
    expect(t1).toMatchObject({ state: 'FAILED', error: { kind: 'permanent' } });
    expect(t1!.error!.message).toMatch(/^task t\d+: its definition in the ledger is damaged \(/);
    expect(t2!.error!.message).toContain(
      'its definition in the ledger is missing, so its 1 objects cannot be sent again',
    );
    // Given up: a later resume does not trip over them again.
    const again = await resume(job);
    expect(again.failed.map((f) => f.taskId)).toEqual([taskId(1), taskId(2)]);
    await ledger.remove();
  });
});
