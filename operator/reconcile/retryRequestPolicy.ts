// spec.retryRequest, the one spec change that reopens a finished job (ADR 0003):
// a new value re-runs a Failed job's failed tasks (the engine re-sends the tasks
// it gave up, once per value). On a job that is not Failed there is nothing to
// retry: the value is recorded as seen, with an event saying so, and does not
// linger to fire on a later failure.
import type { Condition, ReplicationJob } from '../../api/v1alpha1/index.ts';
import { Reason } from './conditions.ts';
import type { PolicyOutcome } from './decision.ts';
import { failureMessage, reopenedConditions } from './jobConditions.ts';

export function retryRequestPolicy(job: ReplicationJob, conditions: readonly Condition[]): PolicyOutcome {
  const retryRequest = job.spec.retryRequest;
  const old = job.status ?? {};
  if (retryRequest === undefined || retryRequest === old.lastRetryRequest) return {};
  const failure = failureMessage(conditions);
  if (failure === undefined)
    return {
      status: { lastRetryRequest: retryRequest },
      events: [
        {
          type: 'Normal',
          reason: Reason.RetryIgnored,
          message: `spec.retryRequest ${JSON.stringify(retryRequest)} ignored: the job is ${old.phase ?? 'Pending'}, not Failed; there is nothing to retry`,
        },
      ],
    };
  return {
    // The job runs again: it has no completion time until it finishes anew.
    status: { lastRetryRequest: retryRequest, completionTime: undefined },
    conditions: reopenedConditions(retryRequest),
    events: [
      {
        type: 'Normal',
        reason: Reason.RetryRequested,
        message: `retrying the failed tasks (spec.retryRequest ${JSON.stringify(retryRequest)}); they had failed with: ${failure}`,
      },
    ],
  };
}
