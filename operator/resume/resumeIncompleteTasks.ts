// Resume: after any failure to complete (operator restart or leader change, a
// lost worker, NATS or etcd restarted, a retry asked for by the user) the
// operator reads the ledger, separates completed from incomplete tasks, opens
// a new epoch and re-sends only the incomplete ones. It lists no store: the
// task definitions are in the ledger.
//
// - SUCCEEDED tasks are never sent again.
// - A task that failed permanently, or ran out of attempts, stays FAILED (the
//   job reports it) unless `retryFailed` is set — a user's retry request.
// - Deletes are sent only once every copy task has succeeded.
// - Older epochs' task messages still queued in the stream are withdrawn
//   first: a worker would carry each out only to have its status fenced off,
//   copying those objects twice (the new epoch re-sends every one of them).
import type { JetStreamClient } from '@nats-io/jetstream';
import { streams } from '../../api/names.ts';
import { tasksSubject } from '../../api/tasks.ts';
import { dispatchTasks, type Dispatch } from '../dispatch/dispatcher.ts';
import type { TaskLedger, TaskRecord } from '../ledger/taskLedger.ts';

export interface ResumeOptions {
  maxAttempts: number;
  /** Re-send tasks that failed permanently or ran out of attempts too. */
  retryFailed: boolean;
  /** Tasks dispatched per ledger transaction and publish round. */
  batchSize?: number;
}

export interface ResumeSummary {
  epoch: number;
  succeeded: number;
  resent: number;
  /** Delete tasks held back because some copy has not succeeded yet. */
  deletesHeld: number;
  /** Tasks left FAILED: permanent errors or attempts exhausted (and no retry asked for). */
  failed: { taskId: string; error?: TaskRecord['error'] }[];
}

function givenUp(record: TaskRecord, options: ResumeOptions): boolean {
  if (record.state !== 'FAILED' || options.retryFailed) return false;
  return record.error?.kind === 'permanent' || record.attempt >= options.maxAttempts;
}

export async function resumeIncompleteTasks(
  ledger: TaskLedger,
  js: JetStreamClient,
  jobUid: string,
  options: ResumeOptions,
): Promise<ResumeSummary> {
  const batchSize = options.batchSize ?? 100;
  const epoch = await ledger.openEpoch();
  // After the new epoch is recorded, so no older message can be judged current; a worker
  // holding one already finishes it (fenced off), only the queued ones go.
  const jsm = await js.jetstreamManager();
  await jsm.streams.purge(streams.tasks, { filter: tasksSubject(jobUid) });
  const summary: ResumeSummary = { epoch, succeeded: 0, resent: 0, deletesHeld: 0, failed: [] };
  let copiesIncomplete = 0;
  const deletes: Dispatch[] = [];
  let batch: Dispatch[] = [];
  const send = async () => {
    if (batch.length === 0) return;
    const outcomes = await dispatchTasks(js, ledger, jobUid, batch);
    summary.resent += outcomes.filter((o) => o.apply).length;
    batch = [];
  };

  for await (const { taskId, record } of ledger.tasks()) {
    if (record.state === 'SUCCEEDED') {
      summary.succeeded++;
      continue;
    }
    const isDelete = record.kind === 'delete';
    if (!isDelete) copiesIncomplete++;
    if (givenUp(record, options)) {
      summary.failed.push({ taskId, error: record.error });
      continue;
    }
    const task = await ledger.definition(taskId);
    if (!task) throw new Error(`the ledger has progress but no definition for task ${taskId}`);
    const dispatch: Dispatch = { task, epoch, attempt: record.attempt + 1 };
    if (isDelete) {
      deletes.push(dispatch);
      continue;
    }
    batch.push(dispatch);
    if (batch.length >= batchSize) await send();
  }
  await send();

  if (copiesIncomplete > 0) {
    summary.deletesHeld = deletes.length;
  } else {
    for (const d of deletes) {
      batch.push(d);
      if (batch.length >= batchSize) await send();
    }
    await send();
  }
  return summary;
}
