// Runs a delete task on the source worker: each planned key is deleted by the
// destination worker (destinationClient.ts), one after the other. A key that
// fails (a symbolic link in the way on a filesystem destination, a refused
// request) fails alone: the task goes on with the rest, and its status names
// every failed key with its reason beside the count of keys deleted.
import type { PlannedTask } from '../../api/tasks.ts';
import { deleteObject, type DestinationTarget } from './destinationClient.ts';
import { TransferError } from './protocol.ts';
import type { CopyFailure, CopyOutcome } from './copyTask.ts';
import { statusErrorOf } from './taskFailures.ts';

export type DeleteTask = Extract<PlannedTask, { kind: 'delete' }>;

/** Deletes every key of `task` at `target`; never throws for a key's failure (see the outcome). */
export async function runDeleteTask(task: DeleteTask, target: DestinationTarget): Promise<CopyOutcome> {
  let objectsDone = 0;
  const failed: CopyFailure[] = [];
  for (const key of task.keys) {
    try {
      await deleteObject(target, key);
      objectsDone += 1;
    } catch (err) {
      const e =
        err instanceof TransferError
          ? err
          : new TransferError('retryable', 'NetworkError', err instanceof Error ? err.message : String(err));
      failed.push({
        key,
        kind: e.kind,
        code: e.code,
        message: `delete of ${JSON.stringify(key)} failed: ${e.message}`,
      });
    }
  }
  return {
    state: failed.length ? 'FAILED' : 'SUCCEEDED',
    objectsDone,
    bytesDone: 0,
    failed,
    ...(failed.length ? { error: statusErrorOf(failed) } : {}),
  };
}
