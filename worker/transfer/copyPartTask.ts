// Runs a copyPart task on the source worker: one byte range of a large object,
// read as a stream, hashed on the way, sent to a destination worker that stores
// it in the object's multipart upload (partEndpoint.ts). Once the destination
// has confirmed the part's SHA-256, the worker asks it to complete the object;
// whichever part is stored last completes it.
import type { PlannedTask } from '../../api/tasks.ts';
import type { Permits } from '../permits.ts';
import type { ObjectStore } from '../../storage/objectStore.ts';
import {
  checkSourceUnchanged,
  feed,
  SourceCheck,
  type BandwidthLimiter,
  type CopyOutcome,
} from './copyTask.ts';
import { asTransferError, completeParts, sendPart, type DestinationTarget } from './destinationClient.ts';
import { TransferError, type PartAddress } from './protocol.ts';

export type CopyPartTask = Extract<PlannedTask, { kind: 'copyPart' }>;

async function copyPart(
  task: CopyPartTask,
  source: ObjectStore,
  target: DestinationTarget,
  bandwidth: BandwidthLimiter | undefined,
): Promise<{ objectCompleted: boolean; countsObject: boolean }> {
  const { object, start, end } = task;
  const size = end - start + 1;
  const label = `${object.key} (part ${task.partNumber} of ${task.partCount})`;
  await checkSourceUnchanged(object, source);
  const address: PartAddress = {
    key: object.key,
    partNumber: task.partNumber,
    partCount: task.partCount,
    objectSize: object.size,
    ...(object.sha256 ? { objectSha256: object.sha256 } : {}),
  };
  const stream = await source.read(object.key, { start, end });
  const check = feed(stream, new SourceCheck(label, size)) as SourceCheck;
  const body = bandwidth ? feed(check, bandwidth.throttle()) : check;
  const stored = await sendPart(target, address, body, size, () => check.sha256);
  if (check.sha256 === undefined)
    throw new TransferError(
      'retryable',
      'SourceChanged',
      `source object ${label}: the read did not complete`,
    );
  if (stored.sha256 !== check.sha256 || stored.size !== size)
    throw new TransferError(
      'retryable',
      'ChecksumMismatch',
      `${label}: the destination stored SHA-256 ${stored.sha256} (${stored.size} bytes), the source sent ${check.sha256} (${size} bytes)`,
    );
  // Also after a late part (stored.completed): the answer says which part's task counts the object.
  const result = await completeParts(target, address);
  return {
    objectCompleted: result.completed,
    countsObject: result.completed && result.completedBy === task.partNumber,
  };
}

/**
 * Copies one part of a large object. Never throws: a failure is the outcome
 * (kind from its error). The object counts as copied (objectsDone 1) on the
 * one task that completed it — also when that task is delivered again — so
 * the job's object counter is exact, and never counts an object whose other
 * part failed.
 */
export async function runCopyPartTask(
  task: CopyPartTask,
  source: ObjectStore,
  target: DestinationTarget,
  options: { bandwidth?: BandwidthLimiter; permits?: Permits } = {},
): Promise<CopyOutcome & { objectCompleted: boolean }> {
  try {
    const copy = () => copyPart(task, source, target, options.bandwidth);
    const { objectCompleted, countsObject } = await (options.permits ? options.permits.run(copy) : copy());
    return {
      state: 'SUCCEEDED',
      objectsDone: countsObject ? 1 : 0,
      bytesDone: task.end - task.start + 1,
      failed: [],
      objectCompleted,
    };
  } catch (err) {
    const e = asTransferError(err);
    const key = task.object.key;
    return {
      state: 'FAILED',
      objectsDone: 0,
      bytesDone: 0,
      failed: [{ key, kind: e.kind, code: e.code, message: e.message }],
      error: { kind: e.kind, message: e.message, keys: [key] },
      objectCompleted: false,
    };
  }
}
