// Dispatch: hands tasks to the source workers through JetStream.
//
// The ledger is written first (DISPATCHED, with the new epoch and attempt), the
// message second. An operator that dies between the two leaves a task the
// ledger calls DISPATCHED with no message: the next resume re-sends every task
// that is not SUCCEEDED, so it is sent then. The other order could lose track
// of a message already out.
//
// A message is checked against the server's max_payload before it is
// published (a task over it could never be sent: the planner sizes tasks far
// below it), and a publish to a full stream waits for room (messageBudget.ts).
import { headers } from '@nats-io/transport-node';
import { taskMessageId, tasksSubject, type PlannedTask, type TaskMessage } from '../../api/tasks.ts';
import type { Logger } from '../../common/logging.ts';
import type { UpdateOutcome } from '../ledger/taskLedger.ts';
import type { JobChannels } from './jobChannels.ts';
import { checkPayload, publishWithBackPressure } from './messageBudget.ts';

export interface Dispatch {
  task: PlannedTask;
  epoch: number;
  attempt: number;
  /** Set by a user's retry: attempts up to this one no longer count against maxAttempts. */
  attemptsBase?: number;
}

/**
 * Records each dispatch in the ledger, then publishes the message of each the
 * ledger accepted (one it refused was overtaken by a status of the same task
 * or a newer attempt). Idempotent: JetStream de-duplicates a repeated message
 * by its id. Returns the ledger's outcome of every dispatch.
 */
export async function dispatchTasks(
  job: JobChannels,
  dispatches: Dispatch[],
  log?: Logger,
): Promise<UpdateOutcome[]> {
  const { ledger } = job;
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
  await Promise.all(dispatches.filter((d) => accepted.has(d.task.id)).map((d) => publishTask(job, d, log)));
  return outcomes;
}

/** Publishes one task message, within the server's max_payload, waiting while the stream is full. */
async function publishTask(job: JobChannels, d: Dispatch, log?: Logger): Promise<void> {
  const { js, jobUid } = job;
  const message: TaskMessage = { jobUid, epoch: d.epoch, attempt: d.attempt, task: d.task };
  const body = Buffer.from(JSON.stringify(message));
  checkPayload(js, body.length, `the message of task ${d.task.id}`);
  const h = headers();
  h.set('Ferry-Task', d.task.id);
  await publishWithBackPressure(
    () =>
      js.publish(tasksSubject(jobUid), body, {
        msgID: taskMessageId(jobUid, d.task.id, d.epoch, d.attempt),
        headers: h,
      }),
    `task ${d.task.id}`,
    log,
  );
}

/**
 * Sends the copy tasks of a plan step, just recorded, as their first attempt
 * (in batches of `batchSize`), so copying starts while planning goes on.
 * Deletes are left PENDING: they wait for the whole plan and every copy.
 */
export async function dispatchPlannedCopies(
  job: JobChannels,
  epoch: number,
  tasks: PlannedTask[],
  log: Logger,
  batchSize = 100,
): Promise<void> {
  const copies = tasks.filter((task) => task.kind !== 'delete');
  for (let i = 0; i < copies.length; i += batchSize) {
    const outcomes = await dispatchTasks(
      job,
      copies.slice(i, i + batchSize).map((task) => ({ task, epoch, attempt: 1 })),
      log,
    );
    const sent = outcomes.filter((o) => o.apply).length;
    log.debug('dispatched tasks', { tasks: sent, epoch, planning: true });
  }
}
