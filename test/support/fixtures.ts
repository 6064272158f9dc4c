// Test fixtures built with option functions: job('copy', withReplicas('source', 2)).
import type * as k8s from '@kubernetes/client-node';
import type { Condition, ReplicationJob } from '../../api/v1alpha1/index.ts';
import { annotations, finalizer, labels, type WorkerRole } from '../../api/names.ts';
import { desiredWorkerPod } from '../../operator/reconcile/workerPods.ts';
import type { DecideSettings } from '../../operator/reconcile/decide.ts';

export const settings: DecideSettings = {
  defaultImage: 'ferry:test',
  natsUrl: 'nats://127.0.0.1:4222',
  podRestartBackoffBaseMs: 2_000,
  podRestartBackoffMaxMs: 60_000,
};

export type JobOption = (job: ReplicationJob) => void;

export function job(name: string, ...options: JobOption[]): ReplicationJob {
  const j: ReplicationJob = {
    apiVersion: 'ferry.dev/v1alpha1',
    kind: 'ReplicationJob',
    metadata: { name, namespace: 'team-a', uid: `uid-${name}`, generation: 1, resourceVersion: '7' },
    spec: {
      source: {
        s3: { endpoint: 'http://src:9000', bucket: 'in', credentialsSecretRef: { name: 'src-creds' } },
      },
      destination: {
        s3: { endpoint: 'http://dst:9000', bucket: 'out', credentialsSecretRef: { name: 'dst-creds' } },
      },
    },
  };
  for (const option of options) option(j);
  return j;
}

export const withFinalizer: JobOption = (j) => {
  j.metadata!.finalizers = [finalizer];
};
export const beingDeleted: JobOption = (j) => {
  j.metadata!.deletionTimestamp = new Date('2026-01-01T00:00:00Z');
};
export const suspended: JobOption = (j) => {
  j.spec.suspend = true;
};
export function withReplicas(role: WorkerRole, replicas: number): JobOption {
  return (j) => {
    j.spec.workers = { ...j.spec.workers, [role]: { ...j.spec.workers?.[role], replicas } };
  };
}
export function withConditions(...conditions: Condition[]): JobOption {
  return (j) => {
    j.status = { ...j.status, conditions };
  };
}
export function withTtl(seconds: number, completionTime: string): JobOption {
  return (j) => {
    j.spec.ttlSecondsAfterFinished = seconds;
    j.status = { ...j.status, completionTime };
  };
}

export type PodOption = (pod: k8s.V1Pod) => void;

export function workerPod(
  j: ReplicationJob,
  role: WorkerRole,
  index: number,
  restarts: number,
  ...options: PodOption[]
): k8s.V1Pod {
  const pod = desiredWorkerPod(j, role, index, restarts, settings);
  pod.status = { phase: 'Pending' };
  for (const option of options) option(pod);
  return pod;
}

export const ready: PodOption = (pod) => {
  pod.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
};
export function failed(exitCode: number, finishedAt: string): PodOption {
  return (pod) => {
    pod.status = {
      phase: 'Failed',
      containerStatuses: [
        {
          name: 'worker',
          image: 'ferry:test',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode, reason: 'Error', finishedAt: new Date(finishedAt) } },
        },
      ],
    };
  };
}
export function inSlot(slot: string): PodOption {
  return (pod) => {
    pod.metadata!.labels![labels.slot] = slot;
  };
}
export function restarts(count: number): PodOption {
  return (pod) => {
    pod.metadata!.annotations![annotations.slotRestarts] = String(count);
  };
}
