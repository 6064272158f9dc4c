// The task contract between the operator and the workers: what a task asks
// for, the message that carries it, and the status messages workers send back.
// Both sides validate what they receive against these shapes.
import { consumerPrefix } from './names.ts';

export interface PlannedObject {
  key: string;
  size: number;
  /** The source's SHA-256 when it is known before reading (hex). */
  sha256?: string;
  /**
   * The version of the source the plan saw (ObjectInfo.version: the S3 ETag,
   * a file's inode, size, mtime and ctime). Planned for objects copied in
   * parts: a part task that finds another version copies that one whole
   * instead, and does not trust the planned sha256 for it (docs/adr/0033).
   */
  version?: string;
}

export type PlannedTask =
  | { kind: 'copy'; id: string; objects: PlannedObject[]; bytes: number }
  | {
      kind: 'copyPart';
      id: string;
      object: PlannedObject;
      partNumber: number;
      partCount: number;
      /** Inclusive byte range of the part. */
      start: number;
      end: number;
    }
  | { kind: 'delete'; id: string; keys: string[] };

/** Published on `tasksSubject(jobUid)`, with Nats-Msg-Id `taskMessageId(...)`. */
export interface TaskMessage {
  jobUid: string;
  epoch: number;
  attempt: number;
  task: PlannedTask;
}

export type ReportedState = 'RUNNING' | 'SUCCEEDED' | 'FAILED';

/** Published by a worker on `statusSubject(jobUid)` for every state a task reaches. */
export interface StatusMessage {
  jobUid: string;
  taskId: string;
  epoch: number;
  attempt: number;
  state: ReportedState;
  /** The reporting pod. */
  worker: string;
  /**
   * The stream sequence of the task message the attempt runs from (in a
   * RUNNING status): when the worker dies, the operator removes that message,
   * so JetStream does not deliver it again once the task was sent anew.
   */
  taskSeq?: number;
  /** Objects (and their bytes) the attempt committed — in a FAILED status too, when it failed in part. */
  objectsDone?: number;
  bytesDone?: number;
  error?: StatusError;
}

/** One object of a task that failed, and why, in words a user can act on. */
export interface ObjectFailure {
  key: string;
  reason: string;
}

/** Bounds that keep a status message far below NATS's max payload (1 MiB by default). */
export const statusFailureBounds = { maxFailures: 100, maxReasonChars: 300 } as const;

/**
 * A reason cut to `max` characters, saying that it was cut. Its start and its
 * end are kept: a reason often names the key first and the cause last.
 */
export function boundedReason(reason: string, max: number = statusFailureBounds.maxReasonChars): string {
  if (reason.length <= max) return reason;
  const head = Math.floor(max / 3);
  return `${reason.slice(0, head)}…${reason.slice(reason.length - (max - head - 1))}`;
}

export interface StatusError {
  kind: 'retryable' | 'permanent';
  message: string;
  /** The failed keys (at most statusFailureBounds.maxFailures). */
  keys?: string[];
  /** The failed objects with their reasons (at most statusFailureBounds.maxFailures). */
  failures?: ObjectFailure[];
  /** How many objects of the task failed in all; more than failures.length when the list was cut. */
  failedCount?: number;
}

export function tasksSubject(jobUid: string): string {
  return `ferry.tasks.${jobUid}`;
}

export function statusSubject(jobUid: string): string {
  return `ferry.status.${jobUid}`;
}

/** JetStream de-duplicates by this id: the same attempt of a task is published at most once. */
export function taskMessageId(jobUid: string, taskId: string, epoch: number, attempt: number): string {
  return `${jobUid}.${taskId}.${epoch}.${attempt}`;
}

/** The durable consumer source workers of a job pull tasks from. */
export function taskConsumerName(jobUid: string): string {
  return `${consumerPrefix(jobUid)}tasks`;
}

/** The durable consumer the operator ingests a job's status from. */
export function statusConsumerName(jobUid: string): string {
  return `${consumerPrefix(jobUid)}status`;
}

/** NATS KV bucket where destination workers announce their object endpoint. */
export const endpointsBucket = 'ferry-endpoints';

/** NATS KV bucket recording each large object's multipart upload (worker/transfer/uploadRegistry.ts). */
export const uploadsBucket = 'ferry-uploads';
