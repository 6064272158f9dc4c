// The pod that aborts a deleted job's open uploads on a filesystem destination
// (ADR 0020): only a pod mounting the volume can remove their part files, and
// the workers are gone by then. It runs the worker image with only the
// destination store and the list of uploads (no NATS, no token).
import type * as k8s from '@kubernetes/client-node';
import { labels, workerEnv } from '../../api/names.ts';
import type { ReplicationJob } from '../../api/v1alpha1/index.ts';
import type { UploadToAbort } from '../../api/uploads.ts';
import {
  containerSecurityContext,
  ownedLabels,
  ownerReference,
  podSecurityContext,
  poolPlacement,
  storeConfig,
  storeVolumes,
  workerImage,
  workerImagePullPolicy,
  workerPool,
  type WorkerPodSettings,
} from './workerPods.ts';

/** The value of labels.role on the upload-abort pod (not a worker role: it has no slot). */
export const uploadAbortRole = 'upload-abort';

/**
 * The most JSON one pod's list of uploads may take: it travels in one
 * environment variable, which Linux caps at 128 KiB.
 */
export const maxUploadListBytes = 64 * 1024;

/** How long the finalizer waits for the pod, from its creation, before the deletion goes on without it. */
export const uploadAbortDeadlineMs = 120_000;

/** How long after the job's deletion began the pod may still be created (the workers go first). */
export const uploadAbortStartDeadlineMs = 300_000;

/** The uploads one pod's list holds, in order, and how many did not fit. */
export function uploadsForOnePod(uploads: readonly UploadToAbort[]): {
  handed: UploadToAbort[];
  notHanded: number;
} {
  const handed: UploadToAbort[] = [];
  let bytes = 2; // []
  for (const upload of uploads) {
    bytes += Buffer.byteLength(JSON.stringify(upload)) + 1;
    if (bytes > maxUploadListBytes) break;
    handed.push(upload);
  }
  return { handed, notHanded: uploads.length - handed.length };
}

export function isUploadAbortPod(pod: k8s.V1Pod): boolean {
  return pod.metadata?.labels?.[labels.role] === uploadAbortRole;
}

export function uploadAbortPod(
  job: ReplicationJob,
  uploads: readonly UploadToAbort[],
  settings: Pick<WorkerPodSettings, 'defaultImage' | 'defaultImagePullPolicy' | 'workerLogLevel'>,
): k8s.V1Pod {
  const store = job.spec.destination;
  const { volumes, mounts } = storeVolumes(store, 'destination');
  const pool = workerPool(job, 'destination');
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
      // The kubelet ends it where the finalizer stops waiting; aborting is quick when it can run at all.
      activeDeadlineSeconds: uploadAbortDeadlineMs / 1000,
      terminationGracePeriodSeconds: 5,
      ...poolPlacement(pool),
      securityContext: podSecurityContext,
      volumes,
      containers: [
        {
          name: 'abort-uploads',
          image: workerImage(job, settings),
          imagePullPolicy: workerImagePullPolicy(job, settings),
          command: ['node', 'worker/main.js'],
          env: [
            { name: workerEnv.store, value: JSON.stringify(storeConfig(store)) },
            { name: workerEnv.abortUploads, value: JSON.stringify(uploadsForOnePod(uploads).handed) },
            { name: workerEnv.logLevel, value: settings.workerLogLevel ?? 'info' },
          ],
          // The pool's requests and limits: a namespace quota that demands them admits it.
          resources: pool.resources as k8s.V1ResourceRequirements | undefined,
          volumeMounts: mounts,
          securityContext: containerSecurityContext,
        },
      ],
    },
  };
}
