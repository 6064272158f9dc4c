// The task contract between the operator and the workers: what a task asks
// for, the message that carries it, and the status messages workers send back.
// Both sides validate what they receive against these shapes.
import { consumerPrefix } from './names.ts';

export interface PlannedObject {
  key: string;
  size: number;
  /** The source's SHA-256 when it is known before reading (hex). */
  sha256?: string;
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
  objectsDone?: number;
  bytesDone?: number;
  error?: { kind: 'retryable' | 'permanent'; message: string; keys?: string[] };
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
