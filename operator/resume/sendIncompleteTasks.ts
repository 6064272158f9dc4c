// Sending the incomplete tasks of a job from the ledger. It lists no store: the
// task definitions are in the ledger.
//
// - On a resume (resumeJob.ts) every task that is not SUCCEEDED is sent again,
//   in the new epoch — except those given up, unless the user asked for a retry.
// - In a retry round of the running engine (same epoch) only failed tasks
//   whose back-off has passed are sent, with the next attempt; what is in
//   flight is left to the workers.
// - SUCCEEDED tasks are never sent again. Deletes are sent only once every
//   copy task has succeeded.
// What becomes of each task is retryPolicy.ts's `dispose`.
import type { PlannedTask } from '../../api/tasks.ts';
import type { Logger } from '../../common/logging.ts';
import { dispatchTasks, type Dispatch } from '../dispatch/dispatcher.ts';
import type { JobChannels } from '../dispatch/jobChannels.ts';
import type { TaskError, TaskRecord } from '../ledger/taskLedger.ts';
import { dispose, type RetryPolicy } from './retryPolicy.ts';

export interface SendOptions {
  epoch: number;
  /** A resume re-sends what was in flight and skips back-off; a retry round does neither. */
  resume: boolean;
  /** Re-send tasks that failed permanently or ran out of attempts too (a user's retry). */
  retryFailed: boolean;
  policy: RetryPolicy;
  now?: number;
  /** Tasks dispatched per ledger transaction and publish round. */
  batchSize?: number;
  log?: Logger;
  /** False while planning goes on: deletes wait for the whole plan, whatever the copies' state. */
  planComplete?: boolean;
  /** Told of the tasks each dispatch sent. */
  onSent?: (tasks: PlannedTask[]) => void;
}

export interface SendSummary {
  epoch: number;
  succeeded: number;
  resent: number;
  /** Retryable failures still backing off, and when the first is due. */
  waiting: number;
  nextDueAt?: number;
  /** Delete tasks held back because some copy has not succeeded yet. */
  deletesHeld: number;
  /** Tasks left FAILED: permanent errors or attempts exhausted (and no retry asked for). */
  failed: { taskId: string; error?: TaskRecord['error'] }[];
}

/**
 * The task's definition; or, when the ledger has lost or damaged it, nothing,
 * after recording the task as failed for good, saying so. The objects it
 * covered are unknown, so it can be neither sent again nor silently dropped:
 * the job fails naming it, rather than the engine restarting on it forever.
 */
async function definitionOrFailure(
  job: JobChannels,
  taskId: string,
  record: TaskRecord,
  epoch: number,
): Promise<{ task: PlannedTask } | { error: TaskError }> {
  let state: string;
  try {
    const task = await job.ledger.definition(taskId);
    if (task) return { task };
    state = 'missing';
  } catch (err) {
    state = `damaged (${(err as Error).message})`;
  }
  const error: TaskError = {
    kind: 'permanent',
    message: `task ${taskId}: its definition in the ledger is ${state}, so its ${record.objects} objects cannot be sent again; re-create the job to copy them`,
  };
  await job.ledger.applyUpdates([{ taskId, state: 'FAILED', epoch, attempt: record.attempt + 1, error }]);
  return { error };
}

/** Dispatches in batches, counting and reporting what the ledger accepted. */
class BatchedSend {
  private batch: Dispatch[] = [];
  private readonly job: JobChannels;
  private readonly options: SendOptions;
  private readonly summary: SendSummary;

  constructor(job: JobChannels, options: SendOptions, summary: SendSummary) {
    this.job = job;
    this.options = options;
    this.summary = summary;
  }

  async add(dispatch: Dispatch): Promise<void> {
    this.batch.push(dispatch);
    if (this.batch.length >= (this.options.batchSize ?? 100)) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    const outcomes = await dispatchTasks(this.job, batch);
    const applied = new Set(outcomes.filter((o) => o.apply).map((o) => o.taskId));
    this.options.onSent?.(batch.filter((d) => applied.has(d.task.id)).map((d) => d.task));
    this.summary.resent += applied.size;
    const { epoch, resume } = this.options;
    this.options.log?.debug('dispatched tasks', { tasks: applied.size, epoch, resume });
  }
}

/**
 * Reads every task record of the job and sends those `dispose` says to send,
 * as their next attempt in `options.epoch`; deletes last, and only once no
 * copy is left incomplete (and the plan is complete).
 */
export async function sendIncompleteTasks(job: JobChannels, options: SendOptions): Promise<SendSummary> {
  const { epoch } = options;
  const ctx = { ...options, now: options.now ?? Date.now() };
  const summary: SendSummary = { epoch, succeeded: 0, resent: 0, waiting: 0, deletesHeld: 0, failed: [] };
  const send = new BatchedSend(job, options, summary);
  let copiesIncomplete = 0;
  const deletes: Dispatch[] = [];
  for await (const { taskId, record } of job.ledger.tasks()) {
    const disposition = dispose(record, ctx);
    if (disposition.kind === 'done') {
      summary.succeeded++;
      continue;
    }
    const isDelete = record.kind === 'delete';
    if (!isDelete) copiesIncomplete++;
    if (disposition.kind === 'inFlight') continue;
    if (disposition.kind === 'givenUp') {
      summary.failed.push({ taskId, error: record.error });
      continue;
    }
    if (disposition.kind === 'wait') {
      summary.waiting++;
      summary.nextDueAt = Math.min(summary.nextDueAt ?? Infinity, disposition.dueAt);
      continue;
    }
    const found = await definitionOrFailure(job, taskId, record, epoch);
    if ('error' in found) {
      summary.failed.push({ taskId, error: found.error });
      continue;
    }
    const newBase = disposition.newBase !== undefined ? { attemptsBase: disposition.newBase } : {};
    const dispatch: Dispatch = { task: found.task, epoch, attempt: record.attempt + 1, ...newBase };
    if (isDelete) deletes.push(dispatch);
    else await send.add(dispatch);
  }
  await send.flush();
  if (copiesIncomplete > 0 || options.planComplete === false) summary.deletesHeld = deletes.length;
  else for (const d of deletes) await send.add(d);
  await send.flush();
  return summary;
}

/** What a retry round of chosen copies did: sent, still backing off, or settled for good. */
export interface ChosenRound {
  sent: string[];
  /** Backing off, and when the first is due. */
  waiting: string[];
  nextDueAt?: number;
  givenUp: string[];
  /** Succeeded (or unknown to the ledger): nothing more will come of them. */
  settled: string[];
  /** In a worker's hands again (a later attempt): not failed any more. */
  inFlight: string[];
}

/**
 * A retry round over chosen tasks (the copies planning sent and saw fail),
 * without reading the whole ledger: each is judged as sendIncompleteTasks
 * judges it, and sent again when its back-off has passed.
 */
export async function retryChosenTasks(
  job: JobChannels,
  taskIds: Iterable<string>,
  options: Pick<SendOptions, 'epoch' | 'policy' | 'now'>,
): Promise<ChosenRound> {
  const ctx = { resume: false, retryFailed: false, policy: options.policy, now: options.now ?? Date.now() };
  const round: ChosenRound = { sent: [], waiting: [], givenUp: [], settled: [], inFlight: [] };
  const dispatches: Dispatch[] = [];
  for (const taskId of taskIds) {
    const record = await job.ledger.task(taskId);
    const disposition = record ? dispose(record, ctx) : { kind: 'done' as const };
    if (disposition.kind === 'send') {
      const found = await definitionOrFailure(job, taskId, record!, options.epoch);
      if ('task' in found)
        dispatches.push({ task: found.task, epoch: options.epoch, attempt: record!.attempt + 1 });
      else round.givenUp.push(taskId);
    } else if (disposition.kind === 'wait') {
      round.waiting.push(taskId);
      round.nextDueAt = Math.min(round.nextDueAt ?? Infinity, disposition.dueAt);
    } else if (disposition.kind === 'givenUp') round.givenUp.push(taskId);
    else if (disposition.kind === 'inFlight') round.inFlight.push(taskId);
    else round.settled.push(taskId);
  }
  if (dispatches.length > 0) {
    // A dispatch refused was overtaken by a status of the same task: the next round judges it anew.
    const outcomes = await dispatchTasks(job, dispatches);
    for (const o of outcomes) if (o.apply) round.sent.push(o.taskId);
  }
  return round;
}
