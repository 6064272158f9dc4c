// The worker pods of a job (ADR 0003): what each one should look like. Pure: the same job
// and slot always give the same pod, so a repeated create is harmless.
import type * as k8s from '@kubernetes/client-node';
import type { ImagePullPolicy, ReplicationJob, Store, WorkerPool } from '../../api/v1alpha1/index.ts';
import { parseByteQuantity } from '../../api/quantity.ts';
import {
  annotations,
  labels,
  operatorName,
  workerEnv,
  workerPort,
  workerTokenKey,
  workerTokenSecretName,
  type WorkerRole,
} from '../../api/names.ts';
import { podTemplateDigest } from './podTemplate.ts';
import { workerNatsPodAccess } from './workerNatsAccess.ts';

export interface WorkerPodSettings {
  /** Image used unless spec.workers.image overrides it. */
  defaultImage: string;
  /** The pull policy of pods running defaultImage (the chart's, e.g. Never for a node's own images); unset: Kubernetes'. */
  defaultImagePullPolicy?: ImagePullPolicy;
  /** NATS URL the workers use for tasks and status. */
  natsUrl: string;
  /** The workers' FERRY_LOG_LEVEL (info when unset). */
  workerLogLevel?: string;
  /** The task consumer's ack-wait; source workers signal progress on a task well within it. */
  taskAckWaitMs?: number;
  /** The workers' idle timeout for transfers (FERRY_TRANSFER_IDLE_TIMEOUT_MS); unset: the worker's default. */
  transferIdleTimeoutMs?: number;
  /**
   * The NATS entries of each job's worker Secret (see workerNatsAccess.ts):
   * the TLS files and credentials workers connect with; none: plain NATS.
   */
  natsSecretData?: Readonly<Record<string, string>>;
}

/** The job's own worker image, or the operator's. */
export function workerImage(job: ReplicationJob, settings: Pick<WorkerPodSettings, 'defaultImage'>): string {
  return job.spec.workers?.image ?? settings.defaultImage;
}

/**
 * The job's pull policy; else, for the operator's image only, the operator's
 * (a job's own image is pulled as Kubernetes pulls any image).
 */
export function workerImagePullPolicy(
  job: ReplicationJob,
  settings: Pick<WorkerPodSettings, 'defaultImagePullPolicy'>,
): ImagePullPolicy | undefined {
  const workers = job.spec.workers;
  return workers?.imagePullPolicy ?? (workers?.image ? undefined : settings.defaultImagePullPolicy);
}

/** Where a filesystem store's volume is mounted in a worker pod. */
export const storeMountPath = '/data/store';
const caBundleMountPath = '/etc/ferry/ca';

export function workerPool(job: ReplicationJob, role: WorkerRole): WorkerPool {
  return job.spec.workers?.[role] ?? {};
}

export function desiredReplicas(job: ReplicationJob, role: WorkerRole): number {
  return workerPool(job, role).replicas ?? 1;
}

/**
 * spec.bandwidthLimit is the whole job's: each source worker gets an equal
 * share (destination workers only receive what sources send).
 */
function bandwidthEnv(job: ReplicationJob, role: WorkerRole): k8s.V1EnvVar[] {
  const limit = job.spec.bandwidthLimit;
  if (limit === undefined || role !== 'source') return [];
  const share = Math.max(1, Math.floor(parseByteQuantity(limit) / desiredReplicas(job, 'source')));
  return [{ name: workerEnv.bandwidth, value: String(share) }];
}

/** The slot a pod fills, e.g. "source-0": stable across the pod's replacements. */
export function slotName(role: WorkerRole, index: number): string {
  return `${role}-${index}`;
}

export function workerPodName(
  job: ReplicationJob,
  role: WorkerRole,
  index: number,
  restarts: number,
): string {
  return `${job.metadata!.name}-${role}-${index}-${restarts}`;
}

/** Labels every object a job owns carries; selecting by the job's UID finds them all. */
export function ownedLabels(job: ReplicationJob): Record<string, string> {
  return {
    [labels.managedBy]: operatorName,
    [labels.name]: 'ferry',
    [labels.jobUid]: job.metadata!.uid!,
  };
}

export function ownerReference(job: ReplicationJob): k8s.V1OwnerReference {
  return {
    apiVersion: job.apiVersion,
    kind: job.kind,
    name: job.metadata!.name!,
    uid: job.metadata!.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

function storeFor(job: ReplicationJob, role: WorkerRole): Store {
  return role === 'source' ? job.spec.source : job.spec.destination;
}

/** Where a pool's pods run, and as whom (they need no API access). */
export function poolPlacement(pool: WorkerPool): Partial<k8s.V1PodSpec> {
  return {
    serviceAccountName: pool.serviceAccountName,
    automountServiceAccountToken: false,
    nodeSelector: pool.nodeSelector,
    tolerations: pool.tolerations as k8s.V1Toleration[] | undefined,
    affinity: pool.affinity as k8s.V1Affinity | undefined,
  };
}

/** What every pod Ferry runs for a job may do: nothing privileged. */
export const podSecurityContext: k8s.V1PodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  fsGroup: 65532,
  seccompProfile: { type: 'RuntimeDefault' },
};
export const containerSecurityContext: k8s.V1SecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
};

function storeEnv(store: Store): k8s.V1EnvVar[] {
  const env: k8s.V1EnvVar[] = [];
  if (store.s3) {
    const ref = store.s3.credentialsSecretRef;
    env.push(
      {
        name: workerEnv.accessKeyId,
        valueFrom: { secretKeyRef: { name: ref.name, key: ref.accessKeyIdKey ?? 'AWS_ACCESS_KEY_ID' } },
      },
      {
        name: workerEnv.secretAccessKey,
        valueFrom: {
          secretKeyRef: { name: ref.name, key: ref.secretAccessKeyKey ?? 'AWS_SECRET_ACCESS_KEY' },
        },
      },
    );
  }
  return env;
}

/** The store as the worker reads it from FERRY_STORE: the spec, plus where volumes are mounted. */
export function storeConfig(store: Store): object {
  if (store.filesystem) return { filesystem: { ...store.filesystem, mountPath: storeMountPath } };
  const { credentialsSecretRef: _credentials, caBundleSecretRef, ...s3 } = store.s3!;
  return {
    s3: {
      ...s3,
      ...(caBundleSecretRef
        ? { caBundleFile: `${caBundleMountPath}/${caBundleSecretRef.key ?? 'ca.crt'}` }
        : {}),
    },
  };
}

export function storeVolumes(
  store: Store,
  role: WorkerRole,
): { volumes: k8s.V1Volume[]; mounts: k8s.V1VolumeMount[] } {
  const volumes: k8s.V1Volume[] = [{ name: 'tmp', emptyDir: {} }];
  const mounts: k8s.V1VolumeMount[] = [{ name: 'tmp', mountPath: '/tmp' }];
  if (store.filesystem) {
    volumes.push({
      name: 'store',
      persistentVolumeClaim: { claimName: store.filesystem.claimName, readOnly: role === 'source' },
    });
    mounts.push({ name: 'store', mountPath: storeMountPath, readOnly: role === 'source' });
  }
  if (store.s3?.caBundleSecretRef) {
    volumes.push({ name: 'ca-bundle', secret: { secretName: store.s3.caBundleSecretRef.name } });
    mounts.push({ name: 'ca-bundle', mountPath: caBundleMountPath, readOnly: true });
  }
  return { volumes, mounts };
}

export function desiredWorkerPod(
  job: ReplicationJob,
  role: WorkerRole,
  index: number,
  restarts: number,
  settings: WorkerPodSettings,
  /** ferry.dev/slot-failures; by default `restarts`, what an operator before that annotation implied. */
  failures: number = restarts,
): k8s.V1Pod {
  const pool = workerPool(job, role);
  const store = storeFor(job, role);
  const spec = workerPodSpec(job, role, pool, store, settings);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: workerPodName(job, role, index, restarts),
      namespace: job.metadata!.namespace!,
      labels: {
        ...ownedLabels(job),
        [labels.component]: `${role}-worker`,
        [labels.role]: role,
        [labels.slot]: slotName(role, index),
      },
      annotations: {
        [annotations.slotRestarts]: String(restarts),
        [annotations.slotFailures]: String(failures),
        [annotations.podTemplate]: podTemplateDigest(spec, settings.natsSecretData),
      },
      ownerReferences: [ownerReference(job)],
    },
    spec,
  };
}

/** Everything of a worker pod but its name and bookkeeping: the same for every slot of a role. */
function workerPodSpec(
  job: ReplicationJob,
  role: WorkerRole,
  pool: WorkerPool,
  store: Store,
  settings: WorkerPodSettings,
): k8s.V1PodSpec {
  const { volumes, mounts } = storeVolumes(store, role);
  const nats = workerNatsPodAccess(workerTokenSecretName(job.metadata!.name!), settings.natsSecretData);
  const probe = (path: string, failureThreshold: number): k8s.V1Probe => ({
    httpGet: { path, port: 'http' },
    periodSeconds: 5,
    failureThreshold,
  });
  return {
    // The operator replaces failed pods itself, with back-off, so the job's
    // status can say what failed; the kubelet must not restart them silently.
    restartPolicy: 'Never',
    ...poolPlacement(pool),
    terminationGracePeriodSeconds: 30,
    securityContext: podSecurityContext,
    volumes: [...volumes, ...nats.volumes],
    containers: [
      {
        name: 'worker',
        image: workerImage(job, settings),
        imagePullPolicy: workerImagePullPolicy(job, settings),
        command: ['node', 'worker/main.js'],
        ports: [{ name: 'http', containerPort: workerPort, protocol: 'TCP' }],
        env: [
          { name: workerEnv.role, value: role },
          { name: workerEnv.jobNamespace, value: job.metadata!.namespace! },
          { name: workerEnv.jobName, value: job.metadata!.name! },
          { name: workerEnv.jobUid, value: job.metadata!.uid! },
          { name: workerEnv.podName, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: workerEnv.podIp, valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: workerEnv.port, value: String(workerPort) },
          { name: workerEnv.natsUrl, value: settings.natsUrl },
          ...nats.env,
          { name: workerEnv.logLevel, value: settings.workerLogLevel ?? 'info' },
          { name: workerEnv.concurrency, value: String(pool.concurrency ?? 8) },
          ...(settings.taskAckWaitMs
            ? [{ name: workerEnv.taskAckWaitMs, value: String(settings.taskAckWaitMs) }]
            : []),
          ...(settings.transferIdleTimeoutMs
            ? [{ name: workerEnv.transferIdleTimeoutMs, value: String(settings.transferIdleTimeoutMs) }]
            : []),
          ...bandwidthEnv(job, role),
          { name: workerEnv.store, value: JSON.stringify(storeConfig(store)) },
          {
            name: workerEnv.token,
            valueFrom: {
              secretKeyRef: { name: workerTokenSecretName(job.metadata!.name!), key: workerTokenKey },
            },
          },
          ...storeEnv(store),
        ],
        resources: pool.resources as k8s.V1ResourceRequirements | undefined,
        readinessProbe: probe('/readyz', 3),
        livenessProbe: probe('/healthz', 6),
        volumeMounts: [...mounts, ...nats.mounts],
        securityContext: containerSecurityContext,
      },
    ],
  };
}
