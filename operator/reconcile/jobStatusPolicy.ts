// Whether a job's workers run, and what that makes of its status (ADR 0003): a
// finished or suspended job has no worker pods and is not in progress; a
// finished one goes after spec.ttlSecondsAfterFinished. A job that runs gets
// its token, its queues and its workers' NATS access before its workers.
import type { Condition, ReplicationJob } from '../../api/v1alpha1/index.ts';
import { Reason, rfc3339 } from './conditions.ts';
import type { Action, DecideSettings, Observed, PolicyOutcome } from './decision.ts';
import { isFinished, runningConditions, stoppedConditions, type StopReason } from './jobConditions.ts';
import { deletePodsNotTerminating } from './podState.ts';
import { sameNatsEntries } from './workerNatsAccess.ts';

/** Why no worker should run for the job, if none should: a finished job stays finished even when suspended. */
export function stopReason(job: ReplicationJob, conditions: readonly Condition[]): StopReason | undefined {
  if (isFinished(conditions)) return Reason.Finished;
  return job.spec.suspend === true ? Reason.Suspended : undefined;
}

/** A finished job is deleted once its TTL from completion has passed. */
function ttlAfterFinished(job: ReplicationJob, now: Date): PolicyOutcome {
  const ttlSeconds = job.spec.ttlSecondsAfterFinished;
  const completionTime = job.status?.completionTime;
  if (ttlSeconds === undefined || !completionTime) return {};
  const expiresAt = new Date(completionTime).getTime() + ttlSeconds * 1000;
  return now.getTime() >= expiresAt
    ? { actions: [{ kind: 'DeleteJob' }] }
    : { requeueAfterMs: expiresAt - now.getTime() };
}

/** A job that is finished or suspended: its worker pods go. */
export function stoppedJobPolicy(
  observed: Observed,
  why: StopReason,
  conditions: readonly Condition[],
): PolicyOutcome {
  const ttl = why === Reason.Finished ? ttlAfterFinished(observed.job, observed.now) : {};
  return {
    actions: [...deletePodsNotTerminating(observed.pods), ...(ttl.actions ?? [])],
    conditions: stoppedConditions(why, conditions),
    status: { workers: { sourceReady: 0, destinationReady: 0 } },
    requeueAfterMs: ttl.requeueAfterMs,
  };
}

/** A job whose workers run: what they need before they start, and the running job's conditions. */
export function runningJobPolicy(observed: Observed, settings: DecideSettings): PolicyOutcome {
  const actions: Action[] = [];
  // A job's first start: its token and its queues, before its workers.
  if (!observed.tokenSecretExists) actions.push({ kind: 'CreateTokenSecret' }, { kind: 'EnsureJobStreams' });
  else if (observed.workerSecretNats && !sameNatsEntries(observed.workerSecretNats, settings.natsSecretData))
    actions.push({ kind: 'UpdateWorkerSecretNats' });
  return {
    actions,
    conditions: runningConditions(),
    status: { startTime: observed.job.status?.startTime ?? rfc3339(observed.now) },
  };
}
