import type { Condition } from '../../../../api/v1alpha1/index.ts';
import { retryRequestPolicy } from '../../../../operator/reconcile/retryRequestPolicy.ts';
import { job, withConditions } from '../../../support/fixtures.ts';
import { applied, condition, statuses } from './fixtures.ts';

describe('retryRequestPolicy', () => {
  const failed = [condition('Failed', 'True', 'TasksFailed', '1 objects failed: q1.csv')];
  const complete = [condition('Complete', 'True', 'Succeeded')];
  const cases: Record<
    string,
    { request?: string; last?: string; conditions: Condition[]; event?: string; reopens: boolean }
  > = {
    'no request: nothing happens': { conditions: failed, reopens: false },
    'a value already acted on: nothing happens': {
      request: 'r1',
      last: 'r1',
      conditions: failed,
      reopens: false,
    },
    'a new value on a Failed job reopens it': {
      request: 'r2',
      last: 'r1',
      conditions: failed,
      event: 'RetryRequested',
      reopens: true,
    },
    'a new value on a job that is not Failed is recorded and ignored': {
      request: 'r1',
      conditions: complete,
      event: 'RetryIgnored',
      reopens: false,
    },
  };
  it.each(Object.entries(cases))('%s', (_, c) => {
    const j = job('copy', withConditions(...c.conditions));
    j.status = {
      ...j.status,
      completionTime: '2026-11-24T11:00:00Z',
      ...(c.last ? { lastRetryRequest: c.last } : {}),
    };
    if (c.request) j.spec.retryRequest = c.request;
    const outcome = retryRequestPolicy(j, c.conditions);
    expect(outcome.events?.map((e) => e.reason) ?? []).toEqual(c.event ? [c.event] : []);
    expect(outcome.status?.lastRetryRequest).toBe(c.event ? c.request : undefined);
    // Reopened, the job has no completion time until it finishes anew (undefined removes it).
    expect('completionTime' in (outcome.status ?? {})).toBe(c.reopens);
    expect(statuses(applied(outcome.conditions, c.conditions)).includes('Failed=False/RetryRequested')).toBe(
      c.reopens,
    );
  });

  it('names what had failed in the event of a retry', () => {
    const j = job('copy', withConditions(...failed));
    j.spec.retryRequest = 'r1';
    expect(retryRequestPolicy(j, failed).events?.[0]?.message).toContain(
      'they had failed with: 1 objects failed: q1.csv',
    );
  });
});
