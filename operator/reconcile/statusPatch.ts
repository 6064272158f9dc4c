// The JSON merge patch (RFC 7386, ADR 0003) that turns a job's recorded status into the
// status a reconcile decided. A merge patch keeps every field it does not name,
// so a field the decision dropped (completionTime when a retry reopens a
// failed job) has to be named with null to be removed.
import type { ReplicationJobStatus } from '../../api/v1alpha1/index.ts';

export type StatusMergePatch = { [K in keyof ReplicationJobStatus]: ReplicationJobStatus[K] | null };

export function statusMergePatch(
  recorded: ReplicationJobStatus,
  decided: ReplicationJobStatus,
): StatusMergePatch {
  const patch: StatusMergePatch = { ...decided };
  for (const field of Object.keys(recorded) as (keyof ReplicationJobStatus)[])
    if (decided[field] === undefined) patch[field] = null;
  return patch;
}
