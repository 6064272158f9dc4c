import type { Condition } from '../../../../api/v1alpha1/index.ts';
import type { ConditionUpdate } from '../../../../operator/reconcile/conditions.ts';
import {
  outcomeConditions,
  reopenedConditions,
  runningConditions,
  stoppedConditions,
} from '../../../../operator/reconcile/jobConditions.ts';
import { applied, condition, statuses } from './fixtures.ts';

describe('the conditions a job state implies', () => {
  const failedBefore: Condition[] = [condition('Failed', 'True', 'TasksFailed', '2 objects failed: a, b')];
  const cases: Record<string, { updates: ConditionUpdate[]; from?: Condition[]; want: string[] }> = {
    'a running job is in progress, neither complete nor failed': {
      updates: runningConditions(),
      want: [
        'Complete=False/InProgress',
        'Failed=False/NoFailure',
        'Reconciling=True/Replicating',
        'Stalled=False/NoFailure',
        'Suspended=False/NotSuspended',
      ],
    },
    'a job whose tasks all succeeded is Complete and no longer Reconciling': {
      updates: [
        ...runningConditions(),
        ...outcomeConditions({ kind: 'succeeded', message: 'every task succeeded' }),
      ],
      want: [
        'Complete=True/Succeeded',
        'Failed=False/NoFailure',
        'Reconciling=False/Finished',
        'Stalled=False/NoFailure',
        'Suspended=False/NotSuspended',
      ],
    },
    'a job that failed is Failed and Stalled (kstatus: failed), with the reason it failed': {
      updates: [
        ...runningConditions(),
        ...outcomeConditions({ kind: 'failed', reason: 'TasksFailed', message: 'x' }),
      ],
      want: [
        'Complete=False/Failed',
        'Failed=True/TasksFailed',
        'Reconciling=False/Finished',
        'Stalled=True/Failed',
        'Suspended=False/NotSuspended',
      ],
    },
    'a suspended job is Suspended, not Ready and not Reconciling': {
      updates: stoppedConditions('Suspended', []),
      want: [
        'Ready=False/Suspended',
        'Reconciling=False/Suspended',
        'Stalled=False/NoFailure',
        'Suspended=True/Suspended',
      ],
    },
    'a finished failed job stays Stalled, and keeps its Failed condition as it was': {
      updates: stoppedConditions('Finished', failedBefore),
      from: failedBefore,
      want: [
        'Complete=False/Failed',
        'Failed=True/TasksFailed',
        'Ready=False/Finished',
        'Reconciling=False/Finished',
        'Stalled=True/Failed',
      ],
    },
    'a retry request reopens a failed job': {
      updates: reopenedConditions('r1'),
      from: failedBefore,
      want: ['Failed=False/RetryRequested'],
    },
  };
  it.each(Object.entries(cases))('%s', (_, { updates, from, want }) => {
    expect(statuses(applied(updates, from))).toEqual(want);
  });

  it("names the failure in Complete's message, not 'replication in progress'", () => {
    const failed = applied(outcomeConditions({ kind: 'failed', reason: 'TasksFailed', message: 'x failed' }));
    expect(failed.find((c) => c.type === 'Complete')?.message).toBe('x failed');
    expect(failed.map((c) => c.message)).not.toContain('replication in progress');
  });

  it('corrects the Complete condition of a job that failed while Complete read in progress', () => {
    const before = [...failedBefore, condition('Complete', 'False', 'InProgress', 'replication in progress')];
    const after = applied(stoppedConditions('Finished', before), before);
    expect(after.find((c) => c.type === 'Complete')).toMatchObject({
      status: 'False',
      reason: 'Failed',
      message: '2 objects failed: a, b',
    });
  });

  it("names the failure in Stalled's message, as in Failed's", () => {
    const stalled = applied(stoppedConditions('Finished', failedBefore)).find((c) => c.type === 'Stalled');
    expect(stalled?.message).toBe('2 objects failed: a, b');
  });
});
