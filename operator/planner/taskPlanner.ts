// Turns the merged listings into tasks, streaming: small objects batched up to
// the spec's caps and to a message budget (maxTaskMessageBytes: a thousand
// 1,000-byte keys would pass NATS's 1 MiB max payload), an object larger than
// the part size one task per part (ADR 0006). Task ids are plan positions, so planning the same listings again gives
// the same ids, which JetStream de-duplicates re-sent tasks by (ADR 0004).
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

/**
 * The most bytes of keys (and sizes, checksums) one task's message carries:
 * a quarter of nats-server's default max_payload (1 MiB), so the message with
 * its envelope stays far below it, and the status of a task whose objects all
 * fail stays small too. A task of short keys is cut by maxObjects first.
 */
export const maxTaskMessageBytes = 256 * 1024;

/** What an object adds to its task's message, in bytes of JSON (with its comma). */
export function encodedObjectBytes(object: PlannedObject): number {
  return Buffer.byteLength(JSON.stringify(object)) + 1;
}

/** What a key adds to its delete task's message. */
export function encodedKeyBytes(key: string): number {
  return Buffer.byteLength(JSON.stringify(key)) + 1;
}

/** The most parts one object is split into (S3's limit for a multipart upload). */
export const maxPartsPerObject = 10_000;

export function taskId(position: number): string {
  return `t${String(position).padStart(10, '0')}`;
}

/** The key a decision is about (the same on both sides of the merge). */
export function decisionKey(decision: KeyDecision): string {
  return decision.kind === 'extra' ? decision.destination.key : decision.source.key;
}

/**
 * The planner's state between decisions: at most one open batch of small
 * copies and one of deletes. `add` takes the next decision (in key order) and
 * returns the tasks it completed; `close` flushes the open batches.
 */
export class TaskPlanner {
  private readonly settings: PlanSettings;
  readonly totals: PlanTotals;
  private copyBatch: PlannedObject[] = [];
  private copyBytes = 0;
  /** The open batches' bytes of JSON in their task messages. */
  private copyEncoded = 0;
  private deleteBatch: string[] = [];
  private deleteEncoded = 0;

  constructor(settings: PlanSettings, totals: PlanTotals = emptyTotals()) {
    this.settings = settings;
    this.totals = totals;
  }

  private nextId(): string {
    return taskId(this.totals.tasks++);
  }

  private flushCopies(out: PlannedTask[]): void {
    if (this.copyBatch.length === 0) return;
    out.push({ kind: 'copy', id: this.nextId(), objects: this.copyBatch, bytes: this.copyBytes });
    this.copyBatch = [];
    this.copyBytes = 0;
    this.copyEncoded = 0;
  }

  private flushDeletes(out: PlannedTask[]): void {
    if (this.deleteBatch.length === 0) return;
    out.push({ kind: 'delete', id: this.nextId(), keys: this.deleteBatch });
    this.deleteBatch = [];
    this.deleteEncoded = 0;
  }

  add(decision: KeyDecision): PlannedTask[] {
    const { settings, totals } = this;
    const out: PlannedTask[] = [];
    if (decision.kind === 'extra') {
      if (settings.mode !== 'Sync' || !settings.inScope(decision.destination.key, decision.destination.size))
        return out;
      totals.objectsToDelete++;
      const encoded = encodedKeyBytes(decision.destination.key);
      if (this.deleteBatch.length > 0 && this.deleteEncoded + encoded > maxTaskMessageBytes)
        this.flushDeletes(out);
      this.deleteBatch.push(decision.destination.key);
      this.deleteEncoded += encoded;
      if (this.deleteBatch.length >= settings.maxObjects) this.flushDeletes(out);
      return out;
    }
    const { source } = decision;
    if (!settings.inScope(source.key, source.size)) return out;
    totals.sourceObjects++;
    if (decision.kind === 'same') {
      totals.objectsSkipped++;
      totals.bytesSkipped += source.size;
      return out;
    }
    totals.objectsToCopy++;
    totals.bytesToCopy += source.size;
    const object: PlannedObject = {
      key: source.key,
      size: source.size,
      ...(source.checksum ? { sha256: source.checksum.value } : {}),
    };

    if (source.size > settings.partSize) {
      // Its parts must all be of one version (ADR 0033): the one planned travels with them.
      if (source.version) object.version = source.version;
      // S3 allows 10,000 parts per upload: a huge object gets larger parts.
      const partSize = Math.max(settings.partSize, Math.ceil(source.size / maxPartsPerObject));
      const partCount = Math.ceil(source.size / partSize);
      for (let part = 0; part < partCount; part++) {
        const start = part * partSize;
        out.push({
          kind: 'copyPart',
          id: this.nextId(),
          object,
          partNumber: part + 1,
          partCount,
          start,
          end: Math.min(start + partSize, source.size) - 1,
        });
      }
      return out;
    }
    const encoded = encodedObjectBytes(object);
    if (
      this.copyBatch.length > 0 &&
      (this.copyBatch.length >= settings.maxObjects ||
        this.copyBytes + source.size > settings.maxBytes ||
        this.copyEncoded + encoded > maxTaskMessageBytes)
    ) {
      this.flushCopies(out);
    }
    this.copyBatch.push(object);
    this.copyBytes += source.size;
    this.copyEncoded += encoded;
    return out;
  }

  /** Whether closing the open batches now costs no short task: each is empty or full by count. */
  atBatchBoundary(): boolean {
    const { maxObjects } = this.settings;
    return (
      (this.copyBatch.length === 0 || this.copyBatch.length >= maxObjects) &&
      (this.deleteBatch.length === 0 || this.deleteBatch.length >= maxObjects)
    );
  }

  /** Closes the open batches: after this, every decision added so far is in a returned task. */
  close(): PlannedTask[] {
    const out: PlannedTask[] = [];
    this.flushCopies(out);
    this.flushDeletes(out);
    return out;
  }
}

export async function* planTasks(
  decisions: AsyncIterable<KeyDecision>,
  settings: PlanSettings,
  totals: PlanTotals = emptyTotals(),
): AsyncGenerator<PlannedTask> {
  const planner = new TaskPlanner(settings, totals);
  for await (const decision of decisions) yield* planner.add(decision);
  yield* planner.close();
}

/**
 * A stretch of the plan that can be recorded with a checkpoint: every decision
 * up to and including the key `after` is in `tasks` (or in an earlier step),
 * and `totals` are the running totals at that point. Planning resumed from the
 * listings after `after`, with these totals, continues the same plan.
 */
export interface PlanStep {
  tasks: PlannedTask[];
  /** The last key decided; undefined when nothing was listed yet. */
  after: string | undefined;
  totals: PlanTotals;
  done: boolean;
}

export interface StepSettings {
  /** Close a step once it holds this many tasks… */
  tasksPerStep: number;
  /** …or once this many keys were decided (so a long run of identical objects still moves the checkpoint). */
  keysPerStep: number;
  /**
   * Smaller limits for the first step of a plan started from scratch: its
   * copies are dispatched when it is recorded, so it sets how soon the workers
   * get their first task. (A plan resumed from a checkpoint goes on with the
   * usual steps, so it continues the very plan it interrupted.)
   */
  firstStep?: { tasksPerStep: number; keysPerStep: number };
}

export const defaultStepSettings: StepSettings = {
  tasksPerStep: 100,
  keysPerStep: 10_000,
  firstStep: { tasksPerStep: 10, keysPerStep: 1_000 },
};

/**
 * Plans in steps that end on a checkpoint: the open batches are closed at the
 * end of each step (so a step's last key is fully planned). A step ends, once
 * it holds enough tasks, where its open batches are empty or full, so that
 * closing them makes no short task; only a step that reaches twice its task
 * count, or its key count, is closed wherever it is. Memory holds one step.
 */
export async function* planInSteps(
  decisions: AsyncIterable<KeyDecision>,
  settings: PlanSettings,
  totals: PlanTotals = emptyTotals(),
  steps: StepSettings = defaultStepSettings,
): AsyncGenerator<PlanStep> {
  const planner = new TaskPlanner(settings, totals);
  let tasks: PlannedTask[] = [];
  let keys = 0;
  let after: string | undefined;
  let limits = steps.firstStep ?? steps;
  for await (const decision of decisions) {
    tasks.push(...planner.add(decision));
    after = decisionKey(decision);
    keys++;
    const enough = tasks.length >= limits.tasksPerStep && planner.atBatchBoundary();
    if (enough || tasks.length >= 2 * limits.tasksPerStep || keys >= limits.keysPerStep) {
      tasks.push(...planner.close());
      yield { tasks, after, totals: { ...totals }, done: false };
      tasks = [];
      keys = 0;
      limits = steps;
    }
  }
  tasks.push(...planner.close());
  yield { tasks, after, totals: { ...totals }, done: true };
}
