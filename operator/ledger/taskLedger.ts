// The task ledger: every task's record in etcd, under the job's UID (ADR 0004).
//
//   /ferry/jobs/<uid>/job            epoch, plan checkpoint, whether planning finished
//   /ferry/jobs/<uid>/tasks/<taskId> the task's progress (small: rewritten by every status)
//   /ferry/jobs/<uid>/defs/<taskId>  the task's definition (what to do; written once, deflated,
//                                    removed when the task succeeds)
//   /ferry/jobs/<uid>/failures/<taskId>  every failure the task's last FAILED status named, with
//                                    its reason (deflated): the job's failure report (ADR 0036)
//
// The ledger is the truth a resume starts from: the task definitions are in it,
// so re-sending the incomplete tasks needs no new listing of the stores. The
// definition (up to thousands of keys) is kept apart from the progress, so a
// status update rewrites a few hundred bytes, not the task's key list. Writes
// are batched into transactions within etcd's limits (by count and by bytes), and every write is a
// compare-and-set: a plan batch commits only against the checkpoint it
// extends, a status update only against the record it was judged on.
import type { Etcd3 } from 'etcd3';
import { Range } from 'etcd3';
import { ledgerPrefix } from '../../api/names.ts';
import type { ObjectFailure, PlannedTask } from '../../api/tasks.ts';
import type { PlanTotals } from '../planner/taskPlanner.ts';
import { decodeDefinition, decodeFailures, encodeDefinition, encodeFailures } from './definitionCodec.ts';
import { failedCountOf, failuresOf, storedError, type TaskError } from './storedFailures.ts';
import {
  compareAttempts,
  judgeTransition,
  type TaskProgress,
  type TaskState,
  type TransitionVerdict,
} from './taskState.ts';

/** etcd's defaults are 128 operations and 1.5 MiB per request; stay well inside both. */
const maxOpsPerTxn = 100;
const maxBytesPerTxn = 1024 * 1024;
/** Task records carry their objects' keys, so a page's size varies: start here, halve when gRPC refuses a response as too large. */
const initialPageSize = 256;

export type { TaskError } from './storedFailures.ts';

/** The bytes of one transaction's requests, for the operator's metrics (etcd refuses more than 1.5 MiB). */
export type TransactionObserver = (bytes: number) => void;

export interface TaskRecord extends TaskProgress {
  kind: PlannedTask['kind'];
  /** Objects and bytes the task covers (a part task: one object, the part's bytes). */
  objects: number;
  bytes: number;
  worker?: string;
  /** The stream sequence of the task message the worker runs the attempt from (StatusMessage.taskSeq). */
  taskSeq?: number;
  error?: TaskError;
  /** Bytes and objects the worker reported done. */
  bytesDone?: number;
  objectsDone?: number;
  /** The attempt a user's retry started from: attempts before it do not count against maxAttempts. */
  attemptsBase?: number;
  updatedAt: string;
}

export interface JobRecord {
  /** Bumped by every start of the job's engine: the first start opens epoch 2, so resumes = epoch − 2. */
  epoch: number;
  /**
   * Where planning stands: tasks t0…t(tasks−1) are recorded, every key up to
   * `sourceAfter`/`destinationAfter` (the same key: the merge decides by key)
   * is planned, and `totals` are the plan's running totals at that point.
   */
  checkpoint: { tasks: number; sourceAfter?: string; destinationAfter?: string; totals?: PlanTotals };
  planComplete: boolean;
  /** What the complete plan found (skipped objects are known only from planning). */
  totals?: PlanTotals;
  /** The spec.retryRequest whose failed tasks were last re-sent (so one request re-sends them once). */
  retryRequest?: string;
}

export interface StatusUpdate extends TaskProgress {
  taskId: string;
  attemptsBase?: number;
  worker?: string;
  taskSeq?: number;
  error?: TaskError;
  bytesDone?: number;
  objectsDone?: number;
}

export interface LedgerSummary {
  tasks: Record<TaskState, number>;
  objectsCopied: number;
  bytesCopied: number;
  objectsDeleted: number;
  objectsFailed: number;
  /** A sample of the failed objects with their reasons (at most summarize's maxFailures). */
  failures: ObjectFailure[];
  lastError: TaskError | undefined;
}

/** What became of a status update: applied or why not, with the state it reported. */
export type UpdateOutcome = { taskId: string; state: TaskState } & (
  TransitionVerdict | { apply: false; why: 'unknown-task' | 'unissued' }
);

/**
 * Who sent a batch of updates. The engine issues attempts (dispatch, resume,
 * a lost definition's failure); workers only report on attempts they were
 * sent, so theirs can never be newer than the ledger's record.
 */
export type UpdateSource = 'engine' | 'workers';

export class PlanConflictError extends Error {}

interface ReadRecord {
  record?: TaskRecord;
  modRevision?: string;
}

/** What judging a batch of updates found: each one's outcome, the records to write, the failures to keep. */
interface Judged {
  outcomes: UpdateOutcome[];
  changed: Map<string, TaskRecord>;
  reported: Map<string, ObjectFailure[]>;
}

function summarize(task: PlannedTask): Pick<TaskRecord, 'kind' | 'objects' | 'bytes'> {
  switch (task.kind) {
    case 'copy':
      return { kind: task.kind, objects: task.objects.length, bytes: task.bytes };
    case 'copyPart':
      return {
        kind: task.kind,
        objects: task.partNumber === task.partCount ? 1 : 0,
        bytes: task.end - task.start + 1,
      };
    case 'delete':
      return { kind: task.kind, objects: task.keys.length, bytes: 0 };
  }
}

export class TaskLedger {
  private readonly etcd: Etcd3;
  private readonly prefix: string;
  private readonly clock: () => Date;
  private readonly onTransaction: TransactionObserver | undefined;

  constructor(
    etcd: Etcd3,
    jobUid: string,
    clock: () => Date = () => new Date(),
    onTransaction?: TransactionObserver,
  ) {
    this.etcd = etcd;
    this.prefix = ledgerPrefix(jobUid);
    this.clock = clock;
    this.onTransaction = onTransaction;
  }

  private jobKey(): string {
    return `${this.prefix}job`;
  }

  private taskKey(taskId: string): string {
    return `${this.prefix}tasks/${taskId}`;
  }

  private definitionKey(taskId: string): string {
    return `${this.prefix}defs/${taskId}`;
  }

  private failuresKey(taskId: string): string {
    return `${this.prefix}failures/${taskId}`;
  }

  /** The task's definition, as planned. */
  async definition(taskId: string): Promise<PlannedTask | undefined> {
    const kv = (await this.etcd.get(this.definitionKey(taskId)).exec()).kvs[0];
    return kv ? decodeDefinition(kv.value) : undefined;
  }

  /** One task's record. */
  async task(taskId: string): Promise<TaskRecord | undefined> {
    const kv = (await this.etcd.get(this.taskKey(taskId)).exec()).kvs[0];
    return kv ? (JSON.parse(kv.value.toString()) as TaskRecord) : undefined;
  }

  async job(): Promise<{ record: JobRecord; modRevision: string } | undefined> {
    const response = await this.etcd.get(this.jobKey()).exec();
    const kv = response.kvs[0];
    return kv
      ? { record: JSON.parse(kv.value.toString()) as JobRecord, modRevision: kv.mod_revision }
      : undefined;
  }

  /** Creates the job record at epoch 1 if there is none; returns the current record. */
  async ensureJob(): Promise<JobRecord> {
    const initial: JobRecord = { epoch: 1, checkpoint: { tasks: 0 }, planComplete: false };
    await this.etcd
      .if(this.jobKey(), 'Create', '==', 0)
      .then(this.etcd.put(this.jobKey()).value(JSON.stringify(initial)))
      .commit();
    return (await this.job())!.record;
  }

  /**
   * Records the next planned tasks and moves the checkpoint past them, in as
   * many transactions as etcd's limits need; each one commits only if the job
   * record is still the one this planner read. Only the last transaction moves
   * the checkpoint, so the checkpoint never covers a half-recorded step: tasks
   * of a step interrupted between its transactions lie beyond the checkpoint's
   * task count, and a resumed plan writes over them (`dropUncheckpointedTasks`).
   */
  async recordPlan(
    tasks: PlannedTask[],
    checkpoint: Omit<JobRecord['checkpoint'], 'tasks'>,
    planComplete = false,
    totals?: PlanTotals,
  ): Promise<void> {
    const now = this.clock().toISOString();
    const current = await this.job();
    if (!current) throw new PlanConflictError('no job record: call ensureJob first');
    let batch: { key: string; value: string | Buffer }[] = [];
    let bytes = 0;
    const flush = async (last: boolean) => {
      const ops = batch.map(({ key, value }) => this.etcd.put(key).value(value));
      if (last) {
        const record: JobRecord = {
          ...current.record,
          checkpoint: { ...checkpoint, tasks: current.record.checkpoint.tasks + tasks.length },
          planComplete,
          ...(totals ? { totals } : {}),
        };
        ops.push(this.etcd.put(this.jobKey()).value(JSON.stringify(record)));
      }
      const result = await this.etcd
        .if(this.jobKey(), 'Mod', '==', current.modRevision)
        .then(...ops)
        .commit();
      if (!result.succeeded)
        throw new PlanConflictError(
          'the plan checkpoint moved under this planner (another operator is planning?)',
        );
      batch = [];
      bytes = 0;
    };
    for (const task of tasks) {
      const record: TaskRecord = {
        ...summarize(task),
        state: 'PENDING',
        epoch: 0,
        attempt: 0,
        updatedAt: now,
      };
      const entries = [
        { key: this.taskKey(task.id), value: JSON.stringify(record) },
        { key: this.definitionKey(task.id), value: encodeDefinition(task) },
      ];
      const size = entries[0]!.value.length + entries[1]!.value.length;
      if (batch.length > 0 && (batch.length + 3 >= maxOpsPerTxn || bytes + size > maxBytesPerTxn))
        await flush(false);
      batch.push(...entries);
      bytes += size;
    }
    await flush(true);
  }

  /**
   * Removes task records at plan positions from `fromPosition` on: what an
   * interrupted plan step wrote beyond its checkpoint. A step's copies are
   * dispatched only after the transaction that moves the checkpoint past
   * them, so these were never sent: PENDING, and safe to drop.
   */
  async dropUncheckpointedTasks(fromPosition: number, idOf: (position: number) => string): Promise<void> {
    for (const kind of ['tasks', 'defs'] as const) {
      const all = Range.prefix(`${this.prefix}${kind}/`);
      await this.etcd
        .delete()
        .inRange(new Range(Buffer.from(`${this.prefix}${kind}/${idOf(fromPosition)}`), all.end))
        .exec();
    }
  }

  /** Records that the failed tasks of this retry request were re-sent. */
  async recordRetry(request: string): Promise<void> {
    await this.updateJob((record) => ({ ...record, retryRequest: request }));
  }

  /** Rewrites the job record with `change`, compare-and-set, re-reading on a conflict. */
  private async updateJob(change: (record: JobRecord) => JobRecord): Promise<JobRecord> {
    for (;;) {
      const current = await this.job();
      if (!current) throw new Error('no job record: call ensureJob first');
      const next = change(current.record);
      const result = await this.etcd
        .if(this.jobKey(), 'Mod', '==', current.modRevision)
        .then(this.etcd.put(this.jobKey()).value(JSON.stringify(next)))
        .commit();
      if (result.succeeded) return next;
    }
  }

  /**
   * Applies status updates in transactions: each update is judged against the
   * record as read, and written only if that record is unchanged when the
   * transaction commits; a batch that lost a race is re-read and re-judged.
   * A batch whose writes would pass maxBytesPerTxn is split in two before
   * anything of it is written (a FAILED status can carry a hundred long keys).
   * Returns what became of each update (the caller acknowledges the messages
   * only after this resolved).
   */
  async applyUpdates(updates: StatusUpdate[], source: UpdateSource = 'engine'): Promise<UpdateOutcome[]> {
    const outcomes: UpdateOutcome[] = [];
    // Each update writes its record and may delete its definition and failure list: three operations.
    const perBatch = Math.floor(maxOpsPerTxn / 3);
    for (let i = 0; i < updates.length; i += perBatch) {
      outcomes.push(...(await this.applyBatch(updates.slice(i, i + perBatch), source)));
    }
    return outcomes;
  }

  private async readRecords(ids: Iterable<string>): Promise<Map<string, ReadRecord>> {
    const reads = new Map<string, ReadRecord>();
    for (const id of new Set(ids)) {
      const kv = (await this.etcd.get(this.taskKey(id)).exec()).kvs[0];
      reads.set(
        id,
        kv ? { record: JSON.parse(kv.value.toString()) as TaskRecord, modRevision: kv.mod_revision } : {},
      );
    }
    return reads;
  }

  /** Judges each update against the records read; several updates of one task apply in order. */
  private judge(updates: StatusUpdate[], reads: Map<string, ReadRecord>, source: UpdateSource): Judged {
    const outcomes: UpdateOutcome[] = [];
    const changed = new Map<string, TaskRecord>();
    const reported = new Map<string, ObjectFailure[]>();
    for (const update of updates) {
      const current = changed.get(update.taskId) ?? reads.get(update.taskId)!.record;
      if (!current) {
        outcomes.push({ taskId: update.taskId, state: update.state, apply: false, why: 'unknown-task' });
        continue;
      }
      // A task message is published only after its attempt was recorded, so a worker's status for a
      // newer attempt names one the engine never issued: forged, or from another job's worker.
      if (source === 'workers' && compareAttempts(update, current) > 0) {
        outcomes.push({ taskId: update.taskId, state: update.state, apply: false, why: 'unissued' });
        continue;
      }
      const verdict = judgeTransition(current, update);
      outcomes.push({ taskId: update.taskId, state: update.state, ...verdict });
      if (!verdict.apply) continue;
      const { taskId: _id, error, ...progress } = update;
      // A new attempt starts with nothing committed: the counts of the last one are not carried over.
      const next: TaskRecord = { ...current, ...progress, updatedAt: this.clock().toISOString() };
      if (compareAttempts(update, current) > 0) {
        if (update.objectsDone === undefined) {
          delete next.objectsDone;
          delete next.bytesDone;
        }
        // The last attempt's task message is not this one's.
        if (update.taskSeq === undefined) delete next.taskSeq;
      }
      // The last error stays with the record (a later attempt's states carry none): it tells that the
      // task has a failure list to remove once it succeeds.
      if (error) next.error = storedError(error);
      changed.set(update.taskId, next);
      if (update.state === 'FAILED' && error) reported.set(update.taskId, failuresOf(error));
    }
    return { outcomes, changed, reported };
  }

  private async applyBatch(updates: StatusUpdate[], source: UpdateSource): Promise<UpdateOutcome[]> {
    for (let round = 0; ; round++) {
      const reads = await this.readRecords(updates.map((u) => u.taskId));
      const { outcomes, changed, reported } = this.judge(updates, reads, source);
      if (changed.size === 0) return outcomes;
      const ids = [...changed.keys()];
      // A task that succeeded is never sent again: its definition goes with the same commit, so the
      // ledger holds definitions only of the tasks still to do (ADR 0017). A task that failed keeps
      // the failures its status named, for the job's report; one that succeeded drops them.
      const puts: { key: string; value: string | Buffer }[] = ids.map((id) => ({
        key: this.taskKey(id),
        value: JSON.stringify(changed.get(id)),
      }));
      for (const [id, failures] of reported)
        puts.push({ key: this.failuresKey(id), value: encodeFailures(failures) });
      const bytes = puts.reduce((n, p) => n + Buffer.byteLength(p.key) + Buffer.byteLength(p.value), 0);
      if (bytes > maxBytesPerTxn && updates.length > 1) {
        const half = Math.ceil(updates.length / 2);
        return [
          ...(await this.applyBatch(updates.slice(0, half), source)),
          ...(await this.applyBatch(updates.slice(half), source)),
        ];
      }
      const succeeded = ids.filter(
        (id) => changed.get(id)!.state === 'SUCCEEDED' && reads.get(id)!.record!.state !== 'SUCCEEDED',
      );
      let txn = this.etcd.if(this.taskKey(ids[0]!), 'Mod', '==', reads.get(ids[0]!)!.modRevision!);
      for (const id of ids.slice(1))
        txn = txn.and(this.taskKey(id), 'Mod', '==', reads.get(id)!.modRevision!);
      // At most 33 updates make a batch: a failure list each, puts and deletes stay within maxOpsPerTxn.
      const result = await txn
        .then(
          ...puts.map(({ key, value }) => this.etcd.put(key).value(value)),
          ...succeeded.flatMap((id) => [
            this.etcd.delete().key(this.definitionKey(id)),
            // A failure list exists only for a task that was FAILED (and written then).
            ...(reads.get(id)!.record!.error ? [this.etcd.delete().key(this.failuresKey(id))] : []),
          ]),
        )
        .commit();
      this.onTransaction?.(bytes);
      if (result.succeeded) return outcomes;
      if (round >= 10)
        throw new Error('status updates kept conflicting with concurrent writes to the same tasks');
    }
  }

  /**
   * Every failure the job's failed tasks named, task by task (the job's
   * failure report): each task's last FAILED status as its worker sent it
   * (at most statusFailureBounds.maxFailures per task) and how many of the
   * task's objects failed in all.
   */
  async *failureReport(): AsyncGenerator<{ taskId: string; failures: ObjectFailure[]; failedCount: number }> {
    for await (const { taskId, record } of this.tasks()) {
      if (record.state !== 'FAILED' || !record.error) continue;
      const kv = (await this.etcd.get(this.failuresKey(taskId)).exec()).kvs[0];
      const failures = kv ? decodeFailures(kv.value) : failuresOf(record.error);
      const failedCount = Math.max(failedCountOf(record.error), failures.length);
      yield { taskId, failures: await this.everyFailure(taskId, record, failures, failedCount), failedCount };
    }
  }

  /**
   * A status names at most statusFailureBounds.maxFailures objects. When every
   * object of the task failed, the others are known all the same — they are
   * the rest of its definition — and are named, saying so, with the reason of
   * the first failure; otherwise which ones failed is not known.
   */
  private async everyFailure(
    taskId: string,
    record: TaskRecord,
    named: ObjectFailure[],
    failedCount: number,
  ): Promise<ObjectFailure[]> {
    if (named.length >= failedCount || failedCount < record.objects || record.kind === 'copyPart')
      return named;
    const task = await this.definition(taskId).catch(() => undefined);
    if (!task || task.kind === 'copyPart') return named;
    const keys = task.kind === 'copy' ? task.objects.map((o) => o.key) : task.keys;
    const seen = new Set(named.map((f) => f.key));
    const first = named[0]?.reason ?? record.error?.message ?? 'failed';
    const reason = `every object of task ${taskId} failed; its worker named ${named.length} of them, the first with: ${first}`;
    return [...named, ...keys.filter((key) => !seen.has(key)).map((key) => ({ key, reason }))];
  }

  /** Every task record, in task id order, read page by page. */
  async *tasks(): AsyncGenerator<{ taskId: string; record: TaskRecord }> {
    const all = Range.prefix(`${this.prefix}tasks/`);
    let start: Buffer = all.start;
    let pageSize = initialPageSize;
    for (;;) {
      let response;
      try {
        response = await this.etcd.getAll().inRange(new Range(start, all.end)).limit(pageSize).exec();
      } catch (err) {
        if (pageSize > 1 && /RESOURCE_EXHAUSTED|larger than max/i.test(String(err))) {
          pageSize = Math.max(1, Math.floor(pageSize / 2));
          continue;
        }
        throw err;
      }
      for (const kv of response.kvs) {
        yield {
          taskId: kv.key.toString().slice(`${this.prefix}tasks/`.length),
          record: JSON.parse(kv.value.toString()) as TaskRecord,
        };
      }
      if (!response.more || response.kvs.length === 0) return;
      start = Buffer.concat([response.kvs[response.kvs.length - 1]!.key, Buffer.from([0])]);
    }
  }

  /** Counts by state: the job's progress, exact because it is read from the records themselves. */
  async countByState(): Promise<Record<TaskState, number>> {
    const counts: Record<TaskState, number> = {
      PENDING: 0,
      DISPATCHED: 0,
      RUNNING: 0,
      SUCCEEDED: 0,
      FAILED: 0,
    };
    for await (const { record } of this.tasks()) counts[record.state]++;
    return counts;
  }

  /**
   * The job's progress, read from the task records themselves (so exact across
   * restarts). A copy task counts what its last attempt committed: all of it
   * once SUCCEEDED, what its worker reported in a FAILED status (a task that
   * failed in part). A retry replaces the record's counts with its own, so an
   * object is counted once per task however often the task is sent.
   */
  async summarize(maxFailures = 100): Promise<LedgerSummary> {
    const summary: LedgerSummary = {
      tasks: { PENDING: 0, DISPATCHED: 0, RUNNING: 0, SUCCEEDED: 0, FAILED: 0 },
      objectsCopied: 0,
      bytesCopied: 0,
      objectsDeleted: 0,
      objectsFailed: 0,
      failures: [],
      lastError: undefined,
    };
    for await (const { record } of this.tasks()) {
      summary.tasks[record.state]++;
      if (record.state === 'SUCCEEDED') {
        if (record.kind === 'delete') summary.objectsDeleted += record.objects;
        else {
          summary.objectsCopied += record.objectsDone ?? record.objects;
          summary.bytesCopied += record.bytesDone ?? record.bytes;
        }
      } else if (record.state === 'FAILED') {
        if (record.kind === 'delete') summary.objectsDeleted += record.objectsDone ?? 0;
        else {
          summary.objectsCopied += record.objectsDone ?? 0;
          summary.bytesCopied += record.bytesDone ?? 0;
        }
        const error = record.error ?? { kind: 'permanent' as const, message: 'failed' };
        summary.objectsFailed += failedCountOf(error) || record.objects;
        for (const failure of failuresOf(error))
          if (summary.failures.length < maxFailures) summary.failures.push(failure);
        summary.lastError = record.error;
      }
    }
    return summary;
  }

  /** Opens a new epoch (a resume): updates from workers of older epochs are fenced off from now on. */
  async openEpoch(): Promise<number> {
    return (await this.updateJob((record) => ({ ...record, epoch: record.epoch + 1 }))).epoch;
  }

  async remove(): Promise<void> {
    await this.etcd.delete().prefix(this.prefix);
  }
}
