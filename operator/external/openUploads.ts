// Multipart uploads a deleted job leaves open at its destination (ADR 0020):
// the finalizer, once the job's pods are gone, aborts every upload the job's
// registry still records as open. A best effort: an unreachable destination
// leaves them to its lifecycle rule rather than hold the job's deletion.
import type * as k8s from '@kubernetes/client-node';
import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { uploadsBucket } from '../../api/tasks.ts';
import type { ReplicationJob } from '../../api/v1alpha1/index.ts';
import type { UploadRecord } from '../../api/uploads.ts';
import { isStreamNotFound } from '../dispatch/streams.ts';
import { openS3Store } from '../planner/storeListing.ts';

/** The job's upload records still open. */
export async function openUploadsOf(js: JetStreamClient, jobUid: string): Promise<UploadRecord[]> {
  let kv: KV;
  try {
    kv = await new Kvm(js).open(uploadsBucket);
    await kv.status();
  } catch (err) {
    // No worker of any job ever started an upload: nothing is open.
    if (isStreamNotFound(err)) return [];
    throw err;
  }
  const open: UploadRecord[] = [];
  for await (const entryKey of await kv.keys(`${jobUid}.*`)) {
    const entry = await kv.get(entryKey);
    if (entry?.operation !== 'PUT') continue;
    let record: UploadRecord;
    try {
      record = entry.json<UploadRecord>();
    } catch {
      continue; // not a record this registry wrote
    }
    if (record.state === 'open') open.push(record);
  }
  return open;
}

export interface AbortedUploads {
  aborted: number;
  /** Uploads left open, and why (an unreachable store, the first abort that failed). */
  left: { count: number; reason: string }[];
}

/** Aborts `uploads` at the job's destination. */
export async function abortOpenUploads(
  job: ReplicationJob,
  uploads: readonly UploadRecord[],
  core: k8s.CoreV1Api,
): Promise<AbortedUploads> {
  const result: AbortedUploads = { aborted: 0, left: [] };
  if (uploads.length === 0) return result;
  const destination = job.spec.destination;
  // A filesystem destination's part files sit on its volume: the upload-abort pod, which mounts it,
  // has dealt with them before this (operator/reconcile/uploadAbortPod.ts).
  if (!destination.s3) return result;
  let store;
  try {
    store = await openS3Store(job.metadata!.namespace!, destination.s3, core);
  } catch (err) {
    result.left.push({
      count: uploads.length,
      reason: `destination not reachable: ${(err as Error).message}`,
    });
    return result;
  }
  try {
    for (const [i, upload] of uploads.entries()) {
      try {
        await store.abortMultipart(upload.key, upload.uploadId);
        result.aborted++;
      } catch (err) {
        // The store already retried; the rest would most likely fail the same way, each as slowly.
        result.left.push({
          count: uploads.length - i,
          reason: `aborting ${upload.key}: ${(err as Error).message}`,
        });
        break;
      }
    }
  } finally {
    await store.close();
  }
  return result;
}
