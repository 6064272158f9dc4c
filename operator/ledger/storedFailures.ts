// What a task record keeps of a task's failures: a bounded sample, with the
// count of all of them. A task record is rewritten by every status and read by
// every summary, and up to 50 of them go into one etcd transaction (1.5 MiB by
// default), so a failure of a thousand long keys must not make its record
// large. The worker already bounds what one status carries (api/tasks.ts
// statusFailureBounds); the ledger keeps less, by count and by bytes: the
// sample the job's status and events show. The whole list the worker sent goes
// to the job's failure report (failureReport.ts), not into the record.
import { boundedReason, type ObjectFailure } from '../../api/tasks.ts';

/** At most this many failures, and this many bytes of them, in one task record. */
export const storedFailureBounds = { maxFailures: 10, maxBytes: 16 * 1024 } as const;

export interface TaskError {
  kind: 'retryable' | 'permanent';
  message: string;
  /** A sample of the failed objects with their reasons (storedFailureBounds). */
  failures?: ObjectFailure[];
  /** How many objects of the task failed in all (at least failures.length). */
  failedCount?: number;
  /** Failed keys without reasons: what records and statuses carried before failures existed. */
  keys?: string[];
}

/** The failures an error names: its failures, or its bare keys with the error's message as their reason. */
export function failuresOf(error: TaskError): ObjectFailure[] {
  if (error.failures?.length) return error.failures;
  return (error.keys ?? []).map((key) => ({ key, reason: error.message }));
}

/** How many objects an error says failed: its count, or as many as it names. */
export function failedCountOf(error: TaskError): number {
  return Math.max(error.failedCount ?? 0, failuresOf(error).length, error.keys?.length ?? 0);
}

/** The error as a task record keeps it: the message and count whole, the failures sampled within bounds. */
export function storedError(error: TaskError): TaskError {
  const all = failuresOf(error);
  const failures: ObjectFailure[] = [];
  let bytes = 0;
  for (const failure of all) {
    const kept = { key: failure.key, reason: boundedReason(failure.reason) };
    const size = Buffer.byteLength(JSON.stringify(kept));
    if (failures.length >= storedFailureBounds.maxFailures || bytes + size > storedFailureBounds.maxBytes)
      break;
    failures.push(kept);
    bytes += size;
  }
  return {
    kind: error.kind,
    message: boundedReason(error.message, 1_000),
    ...(failures.length ? { failures } : {}),
    ...(all.length || error.failedCount ? { failedCount: failedCountOf(error) } : {}),
  };
}
