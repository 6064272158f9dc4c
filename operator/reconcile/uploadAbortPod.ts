// The pod that aborts a deleted job's open uploads on a filesystem destination.
//
// A large object's parts are staged on the destination's volume until the
// object is complete (ADR 0006); a job deleted part-way leaves them there.
// Only a pod mounting that volume can remove them, and the job's worker pods
// are gone by then. So the finalizer runs one more short-lived pod, from the
// worker image, with only the destination store and the uploads to abort
// (no NATS, no token: the job's Secret is already deleted), and waits for it
// a bounded time; then the deletion goes on whatever became of it.
import type * as k8s from '@kubernetes/client-node';
import { labels, workerEnv } from '../../api/names.ts';
import type { ReplicationJob } from '../../api/v1alpha1/index.ts';
import type { UploadToAbort } from '../../worker/config.ts';
import {
  containerSecurityContext,
  ownedLabels,
  ownerReference,
  podSecurityContext,
  poolPlacement,
  storeConfig,
  storeVolumes,
  workerPool,
  type WorkerPodSettings,
} from './workerPods.ts';

/** The value of labels.role on the upload-abort pod (not a worker role: it has no slot). */
export const uploadAbortRole = 'upload-abort';

/** Uploads one pod aborts: their list travels in its environment. */
export const maxUploadsPerAbortPod = 1_000;

/** How long the finalizer waits for the pod before the deletion goes on without it. */
export const uploadAbortDeadlineMs = 120_000;

export function isUploadAbortPod(pod: k8s.V1Pod): boolean {
  return pod.metadata?.labels?.[labels.role] === uploadAbortRole;
}

export function uploadAbortPod(
  job: ReplicationJob,
  uploads: readonly UploadToAbort[],
  settings: Pick<WorkerPodSettings, 'defaultImage' | 'workerLogLevel'>,
): k8s.V1Pod {
  const store = job.spec.destination;
  const { volumes, mounts } = storeVolumes(store, 'destination');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${job.metadata!.name}-abort-uploads`,
      namespace: job.metadata!.namespace!,
      labels: { ...ownedLabels(job), [labels.component]: uploadAbortRole, [labels.role]: uploadAbortRole },
      ownerReferences: [ownerReference(job)],
    },
    spec: {
      restartPolicy: 'Never',
      ...poolPlacement(workerPool(job, 'destination')),
      securityContext: podSecurityContext,
      volumes,
      containers: [
        {
          name: 'abort-uploads',
          image: job.spec.workers?.image ?? settings.defaultImage,
          imagePullPolicy: job.spec.workers?.imagePullPolicy,
          command: ['node', 'worker/main.js'],
          env: [
            { name: workerEnv.store, value: JSON.stringify(storeConfig(store)) },
            { name: workerEnv.abortUploads, value: JSON.stringify(uploads.slice(0, maxUploadsPerAbortPod)) },
            { name: workerEnv.logLevel, value: settings.workerLogLevel ?? 'info' },
          ],
          volumeMounts: mounts,
          securityContext: containerSecurityContext,
        },
      ],
    },
  };
}
