// How a task that failed in part says so in its status message: every failed
// object by name with its reason, within statusFailureBounds (api/tasks.ts),
// so a mass failure never builds a message near NATS's max payload. What the
// task committed is reported beside it (objectsDone, bytesDone).
import type { TransferErrorKind } from '../../api/errorBody.ts';
import { boundedReason, statusFailureBounds, type ObjectFailure, type StatusError } from '../../api/tasks.ts';

/** One object of a task that failed. */
export interface FailedObject {
  key: string;
  kind: TransferErrorKind;
  message: string;
}

/**
 * The StatusError of a task whose `failed` objects (at least one) failed:
 * permanent when any failure is (retrying cannot help those), each failure
 * with its reason up to the bounds, and the full count.
 */
export function statusErrorOf(failed: readonly FailedObject[]): StatusError {
  const kept = failed.slice(0, statusFailureBounds.maxFailures);
  const failures: ObjectFailure[] = kept.map((f) => ({ key: f.key, reason: boundedReason(f.message) }));
  const first = failed[0]!;
  const more = failed.length > 1 ? ` (and ${failed.length - 1} more)` : '';
  return {
    kind: failed.some((f) => f.kind === 'permanent') ? 'permanent' : 'retryable',
    message: boundedReason(first.message) + more,
    keys: kept.map((f) => f.key),
    failures,
    failedCount: failed.length,
  };
}
