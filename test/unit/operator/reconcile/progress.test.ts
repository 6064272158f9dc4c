import type { EngineProgress } from '../../../../operator/engine/engineProgress.ts';
import { progressPolicy } from '../../../../operator/reconcile/progress.ts';
import { job, withFinalizer } from '../../../support/fixtures.ts';
import { applied, now, planTotals as totals, statuses } from './fixtures.ts';

const summary = (bytesCopied: number): NonNullable<EngineProgress['summary']> => ({
  tasks: { PENDING: 0, DISPATCHED: 1, RUNNING: 0, SUCCEEDED: 2, FAILED: 0 },
  objectsCopied: 4,
  bytesCopied,
  objectsDeleted: 0,
  objectsFailed: 0,
  failures: [],
  lastError: undefined,
});

describe('progressPolicy', () => {
  const succeeded = [
    'Complete=True/Succeeded',
    'Failed=False/NoFailure',
    'Reconciling=False/Finished',
    'Stalled=False/NoFailure',
  ];
  const cases: Record<
    string,
    { progress: EngineProgress; dryRun?: boolean; percent?: number; finished?: string[]; message?: string }
  > = {
    'while planning the percentage is unknown': {
      progress: { phase: 'planning', epoch: 1, totals, summary: summary(400) },
    },
    'while copying it is the share of bytes copied': {
      progress: { phase: 'running', epoch: 1, totals, summary: summary(400) },
      percent: 40,
    },
    'it stays below 100 % until the engine says every task succeeded': {
      progress: { phase: 'running', epoch: 1, totals, summary: summary(1000) },
      percent: 99,
    },
    'a succeeded engine completes the job': {
      progress: { phase: 'succeeded', epoch: 1, totals, summary: summary(1000) },
      percent: 100,
      finished: succeeded,
      message: 'every task succeeded',
    },
    'a dry run completes the job with the plan it would have carried out': {
      progress: { phase: 'succeeded', epoch: 1, totals, summary: summary(0) },
      dryRun: true,
      percent: 100,
      finished: succeeded,
      message:
        'dry run, nothing changed: the plan would copy 10 objects (1000 bytes), delete 1 and skip 2 already identical',
    },
    'a failed engine fails the job with its reason': {
      progress: {
        phase: 'failed',
        epoch: 1,
        failure: { reason: 'DeletesRefused', message: 'too many deletes' },
      },
      finished: [
        'Complete=False/Failed',
        'Failed=True/DeletesRefused',
        'Reconciling=False/Finished',
        'Stalled=True/Failed',
      ],
      message: 'too many deletes',
    },
  };
  it.each(Object.entries(cases))('%s', (_, c) => {
    const j = job('copy', withFinalizer);
    if (c.dryRun) j.spec.deletion = { dryRun: true };
    const outcome = progressPolicy(c.progress, j, now);
    expect(outcome.status?.progressPercent).toBe(c.percent);
    expect(statuses(applied(outcome.conditions))).toEqual(c.finished ?? []);
    expect(outcome.status?.completionTime).toBe(c.finished ? '2026-11-24T12:00:00Z' : undefined);
    if (c.message) expect(applied(outcome.conditions).map((x) => x.message)).toContain(c.message);
  });

  it('records a failure as status.lastFailure, with its time', () => {
    const failure = { reason: 'TasksFailed', message: '1 objects failed: a' };
    const outcome = progressPolicy({ phase: 'failed', epoch: 1, failure }, job('copy'), now);
    expect(outcome.status?.lastFailure).toEqual({ ...failure, time: '2026-11-24T12:00:00Z' });
  });

  it('counts resumes from the epoch, never fewer than recorded', () => {
    const j = job('copy');
    j.status = { resumes: 4 };
    const at = (epoch: number) =>
      progressPolicy({ phase: 'running', epoch, totals, summary: summary(0) }, j, now);
    expect(at(3).status?.resumes).toBe(4);
    expect(at(8).status?.resumes).toBe(6);
  });
});
