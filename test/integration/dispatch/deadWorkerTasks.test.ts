// A task held by a source worker that died is sent again at once
// (operator/dispatch/deadWorkerTasks.ts). The message the dead worker held must
// not then come back after the ack-wait as well: a second delivery runs the
// task twice, writing its objects again. Against the bed's nats-server and
// etcd: the dead worker's message is taken from the stream and not answered.
import { randomUUID } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { JsMsg } from '@nats-io/jetstream';
import { annotations, labels, streams } from '../../../api/names.ts';
import { statusConsumerName, taskConsumerName, type TaskMessage } from '../../../api/tasks.ts';
import { createLogger } from '../../../common/logging.ts';
import { DeadWorkerTasks } from '../../../operator/dispatch/deadWorkerTasks.ts';
import { dispatchTasks } from '../../../operator/dispatch/dispatcher.ts';
import { ensureJobConsumers } from '../../../operator/dispatch/streams.ts';
import { TaskLedger } from '../../../operator/ledger/taskLedger.ts';
import { taskId } from '../../../operator/planner/taskPlanner.ts';
import { connectEngineClients, type EngineClients } from '../../support/engineClients.ts';

const log = createLogger('dead-worker-test', 'error');
const ackWaitMs = 1_000;
const deadWorker = 'job-source-0-0';

/** The dead worker's pod as the API shows it once SIGKILLed. */
const endedPod: k8s.V1Pod = {
  metadata: {
    name: deadWorker,
    labels: { [labels.slot]: 'source-0' },
    annotations: { [annotations.slotRestarts]: '0' },
  },
  status: { phase: 'Failed' },
};

describe('the tasks of a dead source worker', () => {
  let clients: EngineClients;
  beforeAll(async () => {
    clients = await connectEngineClients();
  });
  afterAll(() => clients.close());

  /** Takes every task message delivered within `ms`, acknowledging each. */
  async function deliveredWithin(uid: string, ms: number): Promise<TaskMessage[]> {
    const consumer = await clients.js.consumers.get(streams.tasks, taskConsumerName(uid));
    const seen: TaskMessage[] = [];
    for (const until = Date.now() + ms; Date.now() < until;) {
      const msg = await consumer.next({ expires: 1_000 });
      if (!msg) continue;
      seen.push(JSON.parse(msg.string()) as TaskMessage);
      msg.ack();
    }
    return seen;
  }

  it('go out once more, and the message the dead worker held is not delivered again', async () => {
    const { js, jsm, etcd } = clients;
    const uid = randomUUID();
    const ledger = new TaskLedger(etcd, uid);
    const job = { js, ledger, jobUid: uid };
    try {
      await ensureJobConsumers(jsm, uid, { taskAckWaitMs: ackWaitMs, taskMaxDeliver: 5 });
      await ledger.ensureJob();
      const task = { kind: 'copy' as const, id: taskId(0), objects: [{ key: 'a.bin', size: 1 }], bytes: 1 };
      await ledger.recordPlan([task], {}, true);
      await dispatchTasks(job, [{ task, epoch: 1, attempt: 1 }]);

      // The worker takes the task, says it runs it (as worker/taskLoop.ts does), and dies holding it.
      const consumer = await js.consumers.get(streams.tasks, taskConsumerName(uid));
      const held: JsMsg = (await consumer.next({ expires: 2_000 }))!;
      const running = await ledger.applyUpdates([
        { taskId: task.id, epoch: 1, attempt: 1, state: 'RUNNING', worker: deadWorker, taskSeq: held.seq },
      ]);

      const dead = new DeadWorkerTasks(job, jsm, 1, async () => [endedPod], log);
      dead.observe(running);
      expect(await dead.resend()).toBe(1);

      // Three ack-waits: long enough for JetStream to redeliver what the dead worker held.
      const delivered = await deliveredWithin(uid, 3 * ackWaitMs + 1_000);
      expect(delivered.map((m) => ({ task: m.task.id, attempt: m.attempt }))).toEqual([
        { task: task.id, attempt: 2 },
      ]);
    } finally {
      await ledger.remove();
      await jsm.consumers.delete(streams.tasks, taskConsumerName(uid));
      await jsm.consumers.delete(streams.status, statusConsumerName(uid));
    }
  });
});
