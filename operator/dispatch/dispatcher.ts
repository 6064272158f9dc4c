// Dispatch: hands tasks to the source workers through JetStream.
//
// The ledger is written first (DISPATCHED, with the new epoch and attempt), the
// message second. An operator that dies between the two leaves a task the
// ledger calls DISPATCHED with no message: the next resume re-sends every task
// that is not SUCCEEDED, so it is sent then. The other order could lose track
// of a message already out.
import { headers } from '@nats-io/transport-node';
import type { JetStreamClient } from '@nats-io/jetstream';
import { taskMessageId, tasksSubject, type PlannedTask, type TaskMessage } from '../../api/tasks.ts';
import type { TaskLedger, UpdateOutcome } from '../ledger/taskLedger.ts';

export interface Dispatch {
  task: PlannedTask;
  epoch: number;
  attempt: number;
  /** Set by a user's retry: attempts up to this one no longer count against maxAttempts. */
  attemptsBase?: number;
}

export async function dispatchTasks(
  js: JetStreamClient,
  ledger: TaskLedger,
  jobUid: string,
  dispatches: Dispatch[],
): Promise<UpdateOutcome[]> {
  const outcomes = await ledger.applyUpdates(
    dispatches.map((d) => ({
      taskId: d.task.id,
      state: 'DISPATCHED' as const,
      epoch: d.epoch,
      attempt: d.attempt,
      ...(d.attemptsBase !== undefined ? { attemptsBase: d.attemptsBase } : {}),
    })),
  );
  const accepted = new Set(outcomes.filter((o) => o.apply).map((o) => o.taskId));
  await Promise.all(
    dispatches
      .filter((d) => accepted.has(d.task.id))
      .map((d) => {
        const message: TaskMessage = { jobUid, epoch: d.epoch, attempt: d.attempt, task: d.task };
        const h = headers();
        h.set('Ferry-Task', d.task.id);
        return js.publish(tasksSubject(jobUid), JSON.stringify(message), {
          msgID: taskMessageId(jobUid, d.task.id, d.epoch, d.attempt),
          headers: h,
        });
      }),
  );
  return outcomes;
}

/**
 * Sends the copy tasks of a plan step, just recorded, as their first attempt
 * (in batches of `batchSize`), so copying starts while planning goes on.
 * Deletes are left PENDING: they wait for the whole plan and every copy.
 */
export async function dispatchPlannedCopies(
  js: JetStreamClient,
  ledger: TaskLedger,
  jobUid: string,
  epoch: number,
  tasks: PlannedTask[],
  log?: { debug(message: string, meta: Record<string, unknown>): unknown },
  batchSize = 100,
): Promise<void> {
  const copies = tasks.filter((task) => task.kind !== 'delete');
  for (let i = 0; i < copies.length; i += batchSize) {
    const outcomes = await dispatchTasks(
      js,
      ledger,
      jobUid,
      copies.slice(i, i + batchSize).map((task) => ({ task, epoch, attempt: 1 })),
    );
    const sent = outcomes.filter((o) => o.apply).length;
    log?.debug('dispatched tasks', { tasks: sent, epoch, planning: true });
  }
}
