// A user's retry of a Failed job (spec.retryRequest), and the back-off of
// retryable task failures: the pure parts of both.
import type { ReplicationJob } from '../../../api/v1alpha1/index.ts';
import type { TaskRecord } from '../../../operator/ledger/taskLedger.ts';
import { decide } from '../../../operator/reconcile/decide.ts';
import { statusMergePatch } from '../../../operator/reconcile/statusPatch.ts';
import {
  attemptsUsed,
  dispose,
  retryDelayMs,
  retryPolicyOf,
  type SendContext,
} from '../../../operator/resume/retryPolicy.ts';
import { job, settings, withConditions, withFinalizer } from '../../support/fixtures.ts';

const now = new Date('2026-11-24T12:00:00Z');
const policy = retryPolicyOf({ maxAttempts: 4, initialBackoffSeconds: 5, maxBackoffSeconds: 30 });

describe('retry back-off', () => {
  it('doubles from the initial wait with each failed attempt, up to the cap', () => {
    expect([1, 2, 3, 4, 5, 60, 5000].map((n) => retryDelayMs(n, policy))).toEqual([
      5_000, 10_000, 20_000, 30_000, 30_000, 30_000, 30_000,
    ]);
  });

  it('takes the spec defaults (5 attempts, 5 s doubling to 300 s)', () => {
    expect(retryPolicyOf()).toEqual({ maxAttempts: 5, initialBackoffMs: 5_000, maxBackoffMs: 300_000 });
  });
});

describe('what a send does with each task', () => {
  const at = Date.parse('2026-11-24T12:00:00Z');
  const record = (r: Partial<TaskRecord>): TaskRecord => ({
    kind: 'copy',
    objects: 1,
    bytes: 1,
    state: 'FAILED',
    epoch: 2,
    attempt: 1,
    updatedAt: new Date(at).toISOString(),
    ...r,
  });
  const round: SendContext = { resume: false, retryFailed: false, policy, now: at };
  const retryable = { kind: 'retryable' as const, message: 'slow down' };
  const permanent = { kind: 'permanent' as const, message: 'refused', keys: ['a'] };

  it('re-sends a retryable failure only once its back-off has passed', () => {
    const twice = record({ attempt: 2, error: retryable });
    expect(dispose(twice, { ...round, now: at + 9_999 })).toEqual({ kind: 'wait', dueAt: at + 10_000 });
    expect(dispose(twice, { ...round, now: at + 10_000 })).toEqual({ kind: 'send' });
  });

  it('gives up a permanent failure, or one out of attempts; a retry round leaves in-flight tasks alone', () => {
    expect(dispose(record({ error: permanent }), round)).toEqual({ kind: 'givenUp' });
    expect(dispose(record({ attempt: 4, error: retryable }), round)).toEqual({ kind: 'givenUp' });
    expect(dispose(record({ state: 'RUNNING' }), round)).toEqual({ kind: 'inFlight' });
    expect(dispose(record({ state: 'SUCCEEDED' }), round)).toEqual({ kind: 'done' });
  });

  it('on a resume re-sends what was in flight and skips the back-off, but not what was given up', () => {
    const resume = { ...round, resume: true };
    expect(dispose(record({ state: 'DISPATCHED' }), resume)).toEqual({ kind: 'send' });
    expect(dispose(record({ attempt: 2, error: retryable }), resume)).toEqual({ kind: 'send' });
    expect(dispose(record({ error: permanent }), resume)).toEqual({ kind: 'givenUp' });
    expect(dispose(record({ state: 'SUCCEEDED' }), resume)).toEqual({ kind: 'done' });
  });

  it('on a resume leaves alone what the resuming engine itself dispatched while planning', () => {
    const resume = { ...round, resume: true, epoch: 3 };
    expect(dispose(record({ state: 'DISPATCHED', epoch: 3 }), resume)).toEqual({ kind: 'inFlight' });
    expect(dispose(record({ state: 'DISPATCHED', epoch: 2 }), resume)).toEqual({ kind: 'send' });
    expect(dispose(record({ state: 'RUNNING', epoch: 2 }), resume)).toEqual({ kind: 'send' });
  });

  it("a user's retry re-sends what was given up with a fresh attempt budget", () => {
    const retry = { ...round, resume: true, retryFailed: true };
    expect(dispose(record({ attempt: 4, error: retryable }), retry)).toEqual({ kind: 'send', newBase: 4 });
    expect(dispose(record({ attempt: 3, error: permanent }), retry)).toEqual({ kind: 'send', newBase: 3 });
    // The next attempt (5) is the first of the new budget.
    expect(attemptsUsed({ attempt: 5, attemptsBase: 4 })).toBe(1);
    expect(dispose(record({ attempt: 5, attemptsBase: 4, error: retryable }), round).kind).toBe('wait');
  });
});

describe('decide: spec.retryRequest', () => {
  const failedAt = '2026-11-24T11:00:00Z';
  const failedJob = (request?: string, last?: string): ReplicationJob => {
    const j = job(
      'copy',
      withFinalizer,
      withConditions(
        {
          type: 'Failed',
          status: 'True',
          reason: 'TasksFailed',
          message: '1 objects failed: reports/q1.csv (request refused)',
          lastTransitionTime: failedAt,
          observedGeneration: 1,
        },
        {
          type: 'Complete',
          status: 'False',
          reason: 'InProgress',
          message: '',
          lastTransitionTime: failedAt,
          observedGeneration: 1,
        },
      ),
    );
    j.status = {
      ...j.status,
      phase: 'Failed',
      completionTime: failedAt,
      ...(last ? { lastRetryRequest: last } : {}),
    };
    if (request) j.spec.retryRequest = request;
    return j;
  };
  const observe = (j: ReplicationJob) => ({ job: j, pods: [], tokenSecretExists: true, now });

  it('reopens a Failed job on a new value: workers come back, the value is recorded, an event names what failed', () => {
    const d = decide(observe(failedJob('r1')), settings);
    expect(d.status?.lastRetryRequest).toBe('r1');
    expect(d.status?.phase).toBe('Pending');
    expect(d.status?.conditions?.find((c) => c.type === 'Failed')?.status).toBe('False');
    expect(d.actions.map((a) => a.kind)).toEqual(['CreatePod', 'CreatePod']);
    expect(d.events).toContainEqual(
      expect.objectContaining({
        reason: 'RetryRequested',
        message: expect.stringContaining('reports/q1.csv'),
      }),
    );
  });

  it("drops the failed run's completion time while the job runs again, removing it from the recorded status", () => {
    const j = failedJob('r1');
    const d = decide(observe(j), settings);
    expect(d.status?.completionTime).toBeUndefined();
    // The status is written as a JSON merge patch: the dropped field must be named to go.
    const patch = statusMergePatch(j.status!, d.status!);
    expect(patch.completionTime).toBeNull();
    expect(patch).toMatchObject({ phase: 'Pending', lastRetryRequest: 'r1' });
  });

  it('does nothing for a value already acted on: the job stays Failed', () => {
    const d = decide(observe(failedJob('r1', 'r1')), settings);
    expect(d.status?.phase).toBe('Failed');
    expect(d.status?.completionTime).toBe(failedAt);
    expect(d.actions).toEqual([]);
    expect(d.events).toEqual([]);
  });

  it('on a job that is not Failed only records the value and says it was ignored', () => {
    const complete = job('copy', withFinalizer);
    complete.status = {
      phase: 'Succeeded',
      conditions: [
        {
          type: 'Complete',
          status: 'True',
          reason: 'Succeeded',
          message: 'every task succeeded',
          lastTransitionTime: failedAt,
          observedGeneration: 1,
        },
      ],
    };
    complete.spec.retryRequest = 'r2';
    const d = decide(observe(complete), settings);
    expect(d.status?.phase).toBe('Succeeded');
    expect(d.status?.lastRetryRequest).toBe('r2');
    expect(d.actions).toEqual([]);
    expect(d.events.map((e) => e.reason)).toEqual(['RetryIgnored']);
  });
});
