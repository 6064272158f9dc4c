import type * as k8s from '@kubernetes/client-node';
import type { Condition, ReplicationJob } from '../../../../api/v1alpha1/index.ts';
import type { Observed } from '../../../../operator/reconcile/decision.ts';
import {
  runningJobPolicy,
  stopReason,
  stoppedJobPolicy,
} from '../../../../operator/reconcile/jobStatusPolicy.ts';
import {
  job,
  ready,
  settings,
  suspended,
  withFinalizer,
  withTtl,
  workerPod,
} from '../../../support/fixtures.ts';
import { condition, now, summary } from './fixtures.ts';

describe('stopReason', () => {
  const cases: Record<string, { job: ReplicationJob; conditions: Condition[]; why?: string }> = {
    'a running job runs': { job: job('copy'), conditions: [] },
    'a suspended job stops': { job: job('copy', suspended), conditions: [], why: 'Suspended' },
    'a complete job is finished': {
      job: job('copy'),
      conditions: [condition('Complete', 'True')],
      why: 'Finished',
    },
    'a failed job is finished, suspended or not': {
      job: job('copy', suspended),
      conditions: [condition('Failed', 'True')],
      why: 'Finished',
    },
  };
  it.each(Object.entries(cases))('%s', (_, c) => {
    expect(stopReason(c.job, c.conditions)).toBe(c.why);
  });
});

describe('stoppedJobPolicy', () => {
  const observe = (j: ReplicationJob, pods: k8s.V1Pod[] = []): Observed => ({
    job: j,
    pods,
    tokenSecretExists: true,
    now,
  });
  const finishedTwoMinutesAgo = (ttl: number) =>
    job('copy', withFinalizer, withTtl(ttl, '2026-11-24T11:58:00Z'));
  const cases: Record<
    string,
    { observed: Observed; why: 'Finished' | 'Suspended'; actions: string[]; requeueAfterMs?: number }
  > = {
    'the worker pods of a suspended job go': {
      observed: observe(job('copy', suspended), [workerPod(job('copy'), 'source', 0, 0, ready)]),
      why: 'Suspended',
      actions: ['DeletePod copy-source-0-0'],
    },
    'a finished job past its TTL is deleted': {
      observed: observe(finishedTwoMinutesAgo(60)),
      why: 'Finished',
      actions: ['DeleteJob'],
    },
    'a finished job within its TTL waits for it': {
      observed: observe(finishedTwoMinutesAgo(600)),
      why: 'Finished',
      actions: [],
      requeueAfterMs: 480_000,
    },
    'a suspended job is not deleted by a TTL': {
      observed: observe(job('copy', suspended, withTtl(60, '2026-11-24T11:58:00Z'))),
      why: 'Suspended',
      actions: [],
    },
  };
  it.each(Object.entries(cases))('%s', (_, c) => {
    const outcome = stoppedJobPolicy(c.observed, c.why, []);
    expect(summary(outcome.actions)).toEqual(c.actions);
    expect(outcome.requeueAfterMs).toBe(c.requeueAfterMs);
    expect(outcome.status?.workers).toEqual({ sourceReady: 0, destinationReady: 0 });
  });
});

describe('runningJobPolicy', () => {
  const natsSettings = { ...settings, natsSecretData: { 'nats-user': 'ferry', 'nats-password': 'p' } };
  const cases: Record<
    string,
    { tokenSecretExists: boolean; held?: Record<string, string>; actions: string[] }
  > = {
    "a job's first start: its token and its queues": {
      tokenSecretExists: false,
      actions: ['CreateTokenSecret', 'EnsureJobStreams'],
    },
    'a Secret holding other NATS access is brought in step': {
      tokenSecretExists: true,
      held: { 'nats-user': 'ferry', 'nats-password': 'old' },
      actions: ['UpdateWorkerSecretNats'],
    },
    'a Secret in step is left alone': {
      tokenSecretExists: true,
      held: { 'nats-user': 'ferry', 'nats-password': 'p' },
      actions: [],
    },
  };
  it.each(Object.entries(cases))('%s', (_, c) => {
    const observed: Observed = {
      job: job('copy', withFinalizer),
      pods: [],
      tokenSecretExists: c.tokenSecretExists,
      now,
      ...(c.held ? { workerSecretNats: c.held } : {}),
    };
    expect(summary(runningJobPolicy(observed, natsSettings).actions)).toEqual(c.actions);
  });

  it('records when the job first started, and keeps it', () => {
    const observed: Observed = { job: job('copy'), pods: [], tokenSecretExists: true, now };
    expect(runningJobPolicy(observed, settings).status?.startTime).toBe('2026-11-24T12:00:00Z');
    observed.job.status = { startTime: '2026-11-24T09:00:00Z' };
    expect(runningJobPolicy(observed, settings).status?.startTime).toBe('2026-11-24T09:00:00Z');
  });
});
