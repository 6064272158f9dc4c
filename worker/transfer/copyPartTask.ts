// Runs a copyPart task on the source worker: one byte range of a large object,
// read as a stream, hashed on the way, sent to a destination worker that stores
// it in the object's multipart upload (partEndpoint.ts). Once the destination
// has confirmed the part's SHA-256, the worker asks it to complete the object;
// whichever part is stored last completes it. Every part is read pinned to
// one source version (docs/adr/0033).
import type { PlannedObject, PlannedTask } from '../../api/tasks.ts';
import type { Permits } from '../permits.ts';
import type { ObjectStore } from '../../storage/objectStore.ts';
import { feed, SourceCheck, type BandwidthLimiter, type CopyOutcome } from './copyTask.ts';
import { asTransferError, completeParts, sendPart, type DestinationTarget } from './destinationClient.ts';
import { TransferError, type PartAddress, type PartPutResult } from './protocol.ts';

export type CopyPartTask = Extract<PlannedTask, { kind: 'copyPart' }>;

/** The source version an attempt copies, and the whole object's SHA-256 that holds for it. */
interface SourceVersion {
  version?: string;
  sha256?: string;
}

/**
 * The source object as it is now. Its size must be the planned one (the
 * parts' ranges are planned on it: another size needs a new plan), and when
 * it is the planned version its SHA-256 must be the planned one. Another
 * version of the same size is copied instead — whole, all its parts pinned to
 * it (ADR 0033) — and the planned SHA-256 does not hold for it.
 */
async function currentSource(object: PlannedObject, source: ObjectStore): Promise<SourceVersion> {
  const { key, size } = object;
  const changed = (now: string) =>
    new TransferError(
      'retryable',
      'SourceChanged',
      `source object ${JSON.stringify(key)} changed since planning: ${now}`,
    );
  const info = await source.stat(key);
  if (!info)
    throw new TransferError(
      'permanent',
      'NoSuchKey',
      `source object ${JSON.stringify(key)} no longer exists`,
    );
  if (info.size !== size) throw changed(`planned ${size} bytes, now ${info.size}`);
  const planned =
    object.version === undefined || info.version === undefined || info.version === object.version;
  if (planned && object.sha256 !== undefined && info.checksum && info.checksum.value !== object.sha256)
    throw changed(`its SHA-256 is now ${info.checksum.value}`);
  const sha256 = planned ? (object.sha256 ?? info.checksum?.value) : info.checksum?.value;
  return { ...(info.version ? { version: info.version } : {}), ...(sha256 ? { sha256 } : {}) };
}

/** The inclusive byte range of part `n` of the task's object: all parts but the last are as long as part 1. */
export function partRange(task: CopyPartTask, n: number): { start: number; end: number } {
  const { partNumber, partCount, start, end, object } = task;
  const partSize = partNumber < partCount || partCount === 1 ? end - start + 1 : start / (partCount - 1);
  return { start: (n - 1) * partSize, end: Math.min(n * partSize, object.size) - 1 };
}

/** Reads part `n` (pinned to the version) and sends it; the destination's digest must be the source's. */
async function sendOnePart(
  task: CopyPartTask,
  n: number,
  address: PartAddress,
  source: ObjectStore,
  target: DestinationTarget,
  bandwidth: BandwidthLimiter | undefined,
): Promise<PartPutResult> {
  const { key } = task.object;
  const range = partRange(task, n);
  const size = range.end - range.start + 1;
  const label = `${key} (part ${n} of ${task.partCount})`;
  const version = address.sourceVersion;
  const stream = await source.read(key, range, version === undefined ? {} : { version });
  const check = feed(stream, new SourceCheck(label, size)) as SourceCheck;
  const body = bandwidth ? feed(check, bandwidth.throttle()) : check;
  const stored = await sendPart(target, { ...address, partNumber: n }, body, size, () => check.sha256);
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
  return stored;
}

async function copyPart(
  task: CopyPartTask,
  source: ObjectStore,
  target: DestinationTarget,
  bandwidth: BandwidthLimiter | undefined,
): Promise<{ objectCompleted: boolean; countsObject: boolean }> {
  const { object } = task;
  const current = await currentSource(object, source);
  const address: PartAddress = {
    key: object.key,
    partNumber: task.partNumber,
    partCount: task.partCount,
    objectSize: object.size,
    ...(current.sha256 ? { objectSha256: current.sha256 } : {}),
    ...(current.version ? { sourceVersion: current.version } : {}),
  };
  const stored = await sendOnePart(task, task.partNumber, address, source, target, bandwidth);
  // Also after a late part (stored.completed): the answer says which part's task counts the object.
  let result = await completeParts(target, address);
  if (!result.completed && stored.copiesAll) {
    // This task started the upload over for a new source version: the other
    // parts' tasks may have succeeded already, with the old one, so it sends them.
    for (const n of result.missing)
      if (n !== task.partNumber) await sendOnePart(task, n, address, source, target, bandwidth);
    result = await completeParts(target, address);
  }
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
