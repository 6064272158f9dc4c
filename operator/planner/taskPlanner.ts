// Turns the merged listings into tasks, streaming: small objects are batched
// up to the spec's object and byte caps, so the ledger and the streams hold
// O(tasks), not O(objects); an object larger than the part size becomes one
// task per part, so a failure re-sends only the missing parts. At most one open
// batch of each kind is held in memory.
//
// Task ids are the plan position, so planning the same listings again yields
// the same ids (and JetStream de-duplicates re-sent tasks by them).
import type { ReplicationMode } from '../../api/v1alpha1/index.ts';
import type { KeyDecision } from './listingMerge.ts';
import type { KeyFilter } from './filters.ts';
import type { PlannedObject, PlannedTask } from '../../api/tasks.ts';

export type { PlannedObject, PlannedTask } from '../../api/tasks.ts';

export interface PlanSettings {
  mode: ReplicationMode;
  maxObjects: number;
  maxBytes: number;
  partSize: number;
  inScope: KeyFilter;
}

/** What planning found; complete once the planner's iteration has ended. */
export interface PlanTotals {
  objectsToCopy: number;
  bytesToCopy: number;
  objectsSkipped: number;
  bytesSkipped: number;
  objectsToDelete: number;
  sourceObjects: number;
  tasks: number;
}

export function emptyTotals(): PlanTotals {
  return {
    objectsToCopy: 0,
    bytesToCopy: 0,
    objectsSkipped: 0,
    bytesSkipped: 0,
    objectsToDelete: 0,
    sourceObjects: 0,
    tasks: 0,
  };
}

/** The most parts one object is split into (S3's limit for a multipart upload). */
export const maxPartsPerObject = 10_000;

export function taskId(position: number): string {
  return `t${String(position).padStart(10, '0')}`;
}

export async function* planTasks(
  decisions: AsyncIterable<KeyDecision>,
  settings: PlanSettings,
  totals: PlanTotals = emptyTotals(),
): AsyncGenerator<PlannedTask> {
  let copyBatch: PlannedObject[] = [];
  let copyBytes = 0;
  let deleteBatch: string[] = [];
  const nextId = () => taskId(totals.tasks++);
  const flushCopies = (): PlannedTask | undefined => {
    if (copyBatch.length === 0) return undefined;
    const task: PlannedTask = { kind: 'copy', id: nextId(), objects: copyBatch, bytes: copyBytes };
    copyBatch = [];
    copyBytes = 0;
    return task;
  };
  const flushDeletes = (): PlannedTask | undefined => {
    if (deleteBatch.length === 0) return undefined;
    const task: PlannedTask = { kind: 'delete', id: nextId(), keys: deleteBatch };
    deleteBatch = [];
    return task;
  };

  for await (const decision of decisions) {
    if (decision.kind === 'extra') {
      if (settings.mode !== 'Sync' || !settings.inScope(decision.destination.key, decision.destination.size))
        continue;
      totals.objectsToDelete++;
      deleteBatch.push(decision.destination.key);
      if (deleteBatch.length >= settings.maxObjects) yield flushDeletes()!;
      continue;
    }
    const { source } = decision;
    if (!settings.inScope(source.key, source.size)) continue;
    totals.sourceObjects++;
    if (decision.kind === 'same') {
      totals.objectsSkipped++;
      totals.bytesSkipped += source.size;
      continue;
    }
    totals.objectsToCopy++;
    totals.bytesToCopy += source.size;
    const object: PlannedObject = {
      key: source.key,
      size: source.size,
      ...(source.checksum ? { sha256: source.checksum.value } : {}),
    };

    if (source.size > settings.partSize) {
      // S3 allows 10,000 parts per upload: a huge object gets larger parts.
      const partSize = Math.max(settings.partSize, Math.ceil(source.size / maxPartsPerObject));
      const partCount = Math.ceil(source.size / partSize);
      for (let part = 0; part < partCount; part++) {
        const start = part * partSize;
        yield {
          kind: 'copyPart',
          id: nextId(),
          object,
          partNumber: part + 1,
          partCount,
          start,
          end: Math.min(start + partSize, source.size) - 1,
        };
      }
      continue;
    }
    if (
      copyBatch.length > 0 &&
      (copyBatch.length >= settings.maxObjects || copyBytes + source.size > settings.maxBytes)
    ) {
      yield flushCopies()!;
    }
    copyBatch.push(object);
    copyBytes += source.size;
  }
  const lastCopies = flushCopies();
  if (lastCopies) yield lastCopies;
  const lastDeletes = flushDeletes();
  if (lastDeletes) yield lastDeletes;
}
