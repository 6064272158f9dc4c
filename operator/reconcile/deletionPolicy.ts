// A deleted job removes everything it owns, inside and outside Kubernetes; the
// finalizer goes last, once no worker pod is left (they may still be finishing
// a task), so a deleted job leaves nothing behind (ADR 0003, ADR 0020).
import { finalizer } from '../../api/names.ts';
import type { ReplicationJob } from '../../api/v1alpha1/index.ts';
import type { Action, Decision, DecideSettings, Observed, PolicyOutcome } from './decision.ts';
import { deletePodsNotTerminating } from './podState.ts';
import { isUploadAbortPod } from './uploadAbortPod.ts';
import { uploadAbortPolicy } from './uploadAbortPolicy.ts';

/** How often a deletion looks again while the job's worker pods terminate. */
const workersGoneCheckMs = 2_000;

/** The decision for a job whose deletion has begun. No status: the job is going away. */
export function deletionPolicy(observed: Observed, settings: DecideSettings): Decision {
  if (!observed.job.metadata!.finalizers?.includes(finalizer)) return { actions: [], events: [] };
  const workers = observed.pods.filter((p) => !isUploadAbortPod(p));
  const actions: Action[] = deletePodsNotTerminating(workers);
  if (observed.tokenSecretExists) actions.push({ kind: 'DeleteTokenSecret' });
  if (workers.length > 0) return { actions, events: [], requeueAfterMs: workersGoneCheckMs };
  const abort = uploadAbortPolicy(observed, settings);
  actions.push(...abort.actions);
  if (abort.waitMs !== undefined) return { actions, events: abort.events, requeueAfterMs: abort.waitMs };
  return {
    actions: [...actions, { kind: 'RemoveExternalState' }, { kind: 'RemoveFinalizer' }],
    events: abort.events,
  };
}

/** A job that is not being deleted carries the finalizer, before anything else is made for it. */
export function finalizerPolicy(job: ReplicationJob): PolicyOutcome {
  return job.metadata!.finalizers?.includes(finalizer) ? {} : { actions: [{ kind: 'AddFinalizer' }] };
}
