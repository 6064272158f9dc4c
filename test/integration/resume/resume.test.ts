// Resume against the bed's real etcd and nats-server.
import { randomUUID } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { ledgerPrefix, streams } from '../../../api/names.ts';
import type { TaskMessage } from '../../../api/tasks.ts';
import { dispatchTasks } from '../../../operator/dispatch/dispatcher.ts';
import { ensureJobConsumers, taskConsumerName } from '../../../operator/dispatch/streams.ts';
import { TaskLedger } from '../../../operator/ledger/taskLedger.ts';
import { taskId, type PlannedTask } from '../../../operator/planner/taskPlanner.ts';
import { resumeIncompleteTasks } from '../../../operator/resume/resumeIncompleteTasks.ts';
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
    return { uid, ledger, copies };
  }

  it('re-sends only the tasks that did not succeed, in a new epoch, holding deletes until every copy succeeded', async () => {
    const { uid, ledger, copies } = await newJob(8);
    const del: PlannedTask = { kind: 'delete', id: taskId(8), keys: ['old'] };
    await ledger.recordPlan([...copies, del], {}, true);
    await dispatchTasks(
      js,
      ledger,
      uid,
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

    const summary = await resumeIncompleteTasks(ledger, js, uid, { maxAttempts: 5, retryFailed: false });
    expect(summary).toMatchObject({ epoch: 2, succeeded: 4, resent: 3, deletesHeld: 1 });
    expect(summary.failed).toEqual([
      { taskId: taskId(6), error: { kind: 'permanent', message: 'AccessDenied', keys: ['k6'] } },
    ]);
    const resent = await takeSentTasks(uid);
    expect(resent.map((m) => `${m.task.id}@${m.epoch}.${m.attempt}`).sort()).toEqual([
      `${taskId(4)}@2.2`,
      `${taskId(5)}@2.2`,
      `${taskId(7)}@2.2`,
    ]);

    // The user fixes the permissions and asks for a retry; every copy then succeeds.
    const retry = await resumeIncompleteTasks(ledger, js, uid, { maxAttempts: 5, retryFailed: true });
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

    const last = await resumeIncompleteTasks(ledger, js, uid, { maxAttempts: 5, retryFailed: false });
    expect(last).toMatchObject({ epoch: 4, succeeded: 8, resent: 1, deletesHeld: 0 });
    expect((await takeSentTasks(uid)).map((m) => m.task)).toEqual([del]);
    await ledger.remove();
  });

  it("withdraws the older epochs' task messages still queued, so no worker carries a task out twice", async () => {
    const { uid, ledger, copies } = await newJob(4);
    await ledger.recordPlan(copies, {}, true);
    // Dispatched, and the operator died before any worker took them: all four are still queued.
    await dispatchTasks(
      js,
      ledger,
      uid,
      copies.map((task) => ({ task, epoch: 1, attempt: 1 })),
    );
    await ledger.applyUpdates([{ taskId: taskId(0), state: 'SUCCEEDED', epoch: 1, attempt: 1 }]);

    const summary = await resumeIncompleteTasks(ledger, js, uid, { maxAttempts: 5, retryFailed: false });
    expect(summary).toMatchObject({ epoch: 2, succeeded: 1, resent: 3 });
    const queued = await takeSentTasks(uid);
    expect(queued.map((m) => `${m.task.id}@${m.epoch}.${m.attempt}`).sort()).toEqual([
      `${taskId(1)}@2.2`,
      `${taskId(2)}@2.2`,
      `${taskId(3)}@2.2`,
    ]);
    await ledger.remove();
  });

  it('fails a task whose definition the ledger lost or damaged, naming it, and re-sends the others', async () => {
    const { uid, ledger, copies } = await newJob(3);
    await ledger.recordPlan(copies, {}, true);
    // One definition damaged (zlib's checksum no longer matches), one gone.
    const damaged = Buffer.from((await etcd.get(`${ledgerPrefix(uid)}defs/${taskId(1)}`).buffer())!);
    damaged[damaged.length - 1]! ^= 0xff;
    await etcd.put(`${ledgerPrefix(uid)}defs/${taskId(1)}`).value(damaged);
    await etcd.delete().key(`${ledgerPrefix(uid)}defs/${taskId(2)}`);

    const summary = await resumeIncompleteTasks(ledger, js, uid, { maxAttempts: 5, retryFailed: false });
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
    const again = await resumeIncompleteTasks(ledger, js, uid, { maxAttempts: 5, retryFailed: false });
    expect(again.failed.map((f) => f.taskId)).toEqual([taskId(1), taskId(2)]);
    await ledger.remove();
  });
});
