import type * as k8s from '@kubernetes/client-node';
import { annotations, labels } from '../../../../api/names.ts';
import { workerIsDead } from '../../../../operator/dispatch/deadWorkerTasks.ts';
import { isNoResponders } from '../../../../operator/dispatch/deliveryWatch.ts';

function pod(name: string, phase: string, deleting = false): k8s.V1Pod {
  const restarts = name.split('-').pop()!;
  return {
    metadata: {
      name,
      labels: { [labels.slot]: 'source-0' },
      annotations: { [annotations.slotRestarts]: restarts },
      ...(deleting ? { deletionTimestamp: new Date() } : {}),
    },
    status: { phase },
  };
}

describe('which source workers are dead', () => {
  const cases: Record<string, { pods: k8s.V1Pod[]; worker: string; dead: boolean }> = {
    'a pod that ended (SIGKILLed) is dead': {
      pods: [pod('job-source-0-3', 'Failed')],
      worker: 'job-source-0-3',
      dead: true,
    },
    'a running pod is not': {
      pods: [pod('job-source-0-3', 'Running')],
      worker: 'job-source-0-3',
      dead: false,
    },
    'a terminating pod hands its tasks back itself: not taken': {
      pods: [pod('job-source-0-3', 'Running', true)],
      worker: 'job-source-0-3',
      dead: false,
    },
    'a pod gone from the API whose slot has a later pod is dead': {
      pods: [pod('job-source-0-4', 'Running')],
      worker: 'job-source-0-3',
      dead: true,
    },
    'a pod gone from the API with no later pod in its slot yet is not taken for dead': {
      pods: [pod('job-source-0-2', 'Failed')],
      worker: 'job-source-0-3',
      dead: false,
    },
    "another slot's later pod says nothing": {
      pods: [pod('job-source-1-9', 'Running')],
      worker: 'job-source-0-3',
      dead: false,
    },
  };
  it.each(Object.entries(cases))('%s', (_, c) => {
    expect(workerIsDead(c.pods, c.worker)).toBe(c.dead);
  });
});

describe('"no responders" from NATS', () => {
  it('is recognised by its status code or its words', () => {
    expect(isNoResponders(Object.assign(new Error('no responders'), { code: 503 }))).toBe(true);
    expect(isNoResponders(new Error('503 no responders available'))).toBe(true);
    expect(isNoResponders(new Error('consumer not found'))).toBe(false);
  });
});
