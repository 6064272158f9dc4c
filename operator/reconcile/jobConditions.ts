// The condition sets a job's state implies (ADR 0003): each condition type gets
// its value for running, stopped, finished and reopened jobs here, and nowhere
// else, so the kstatus pairs (Reconciling/Stalled) never disagree with
// Complete/Failed. Ready, which counts worker pods, is workerSlotPolicy.ts's.
import type { Condition } from '../../api/v1alpha1/index.ts';
import { ConditionType, Reason, type ConditionUpdate } from './conditions.ts';

/** How the job's copying stands, as its engine reports it. */
export type JobOutcome =
  | { kind: 'inProgress' }
  | { kind: 'succeeded'; message: string }
  | { kind: 'failed'; reason: string; message: string };

/** Why no worker runs for the job. */
export type StopReason = typeof Reason.Finished | typeof Reason.Suspended;

/** The Failed condition's message while the job is Failed. */
export function failureMessage(conditions: readonly Condition[]): string | undefined {
  return conditions.find((c) => c.type === ConditionType.Failed && c.status === 'True')?.message;
}

export function isFinished(conditions: readonly Condition[]): boolean {
  return conditions.some(
    (c) => (c.type === ConditionType.Complete || c.type === ConditionType.Failed) && c.status === 'True',
  );
}

function notReconciling(why: StopReason): ConditionUpdate {
  const message = why === Reason.Finished ? 'job finished' : 'job suspended';
  return { type: ConditionType.Reconciling, status: 'False', reason: why, message };
}

/** kstatus reads Stalled=True as failed: a job that ran out of attempts needs a person. */
function stalled(failure: string | undefined): ConditionUpdate {
  return failure === undefined
    ? { type: ConditionType.Stalled, status: 'False', reason: Reason.NoFailure, message: 'no failure' }
    : { type: ConditionType.Stalled, status: 'True', reason: Reason.Failed, message: failure };
}

/** Complete for the outcome: a failed job is not Complete because it failed, not because it is in progress. */
function complete(outcome: JobOutcome): ConditionUpdate {
  switch (outcome.kind) {
    case 'succeeded':
      return {
        type: ConditionType.Complete,
        status: 'True',
        reason: Reason.Succeeded,
        message: outcome.message,
      };
    case 'failed':
      return {
        type: ConditionType.Complete,
        status: 'False',
        reason: Reason.Failed,
        message: outcome.message,
      };
    case 'inProgress':
      return {
        type: ConditionType.Complete,
        status: 'False',
        reason: Reason.InProgress,
        message: 'replication in progress',
      };
  }
}

/** Complete, Failed and Stalled for the outcome; a finished job is no longer Reconciling. */
export function outcomeConditions(outcome: JobOutcome): ConditionUpdate[] {
  const failed: ConditionUpdate =
    outcome.kind === 'failed'
      ? { type: ConditionType.Failed, status: 'True', reason: outcome.reason, message: outcome.message }
      : { type: ConditionType.Failed, status: 'False', reason: Reason.NoFailure, message: 'no failure' };
  const updates = [
    complete(outcome),
    failed,
    stalled(outcome.kind === 'failed' ? outcome.message : undefined),
  ];
  return outcome.kind === 'inProgress' ? updates : [...updates, notReconciling(Reason.Finished)];
}

/** A job whose workers run: in progress, not suspended, not (yet) finished. */
export function runningConditions(): ConditionUpdate[] {
  return [
    {
      type: ConditionType.Reconciling,
      status: 'True',
      reason: Reason.Replicating,
      message: 'replication in progress',
    },
    {
      type: ConditionType.Suspended,
      status: 'False',
      reason: Reason.NotSuspended,
      message: 'spec.suspend is false',
    },
    ...outcomeConditions({ kind: 'inProgress' }),
  ];
}

/**
 * A finished or suspended job: no worker is ready, nothing is in progress.
 * Complete and Failed keep what the job finished with.
 */
export function stoppedConditions(why: StopReason, conditions: readonly Condition[]): ConditionUpdate[] {
  const message = why === Reason.Finished ? 'job finished' : 'job suspended';
  return [
    { type: ConditionType.Ready, status: 'False', reason: why, message },
    notReconciling(why),
    ...(why === Reason.Suspended
      ? [
          {
            type: ConditionType.Suspended,
            status: 'True' as const,
            reason: Reason.Suspended,
            message: 'spec.suspend is true',
          },
        ]
      : []),
    stalled(failureMessage(conditions)),
    ...notCompleteWhenFailed(conditions),
  ];
}

/**
 * A Failed job's Complete condition says it failed, also for a job that
 * failed before Complete did (it read "in progress" then).
 */
function notCompleteWhenFailed(conditions: readonly Condition[]): ConditionUpdate[] {
  const failure = failureMessage(conditions);
  return failure === undefined ? [] : [complete({ kind: 'failed', reason: Reason.Failed, message: failure })];
}

/** A Failed job runs again on a retry request: it is no longer Failed. */
export function reopenedConditions(retryRequest: string): ConditionUpdate[] {
  return [
    {
      type: ConditionType.Failed,
      status: 'False',
      reason: Reason.RetryRequested,
      message: `retry requested (${retryRequest})`,
    },
  ];
}
