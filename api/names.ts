// Names both the operator and the workers rely on: labels, annotations, the
// finalizer, environment variables and ports. Changing one is an API change.

export const operatorName = 'ferry-operator';
export const finalizer = 'ferry.dev/cleanup';

export const labels = {
  managedBy: 'app.kubernetes.io/managed-by',
  name: 'app.kubernetes.io/name',
  component: 'app.kubernetes.io/component',
  jobName: 'ferry.dev/job-name',
  jobUid: 'ferry.dev/job-uid',
  role: 'ferry.dev/role',
  slot: 'ferry.dev/slot',
} as const;

export const annotations = {
  /** How many pods the worker slot had before this one; it names the pod (<job>-<role>-<slot>-<n>). */
  slotRestarts: 'ferry.dev/slot-restarts',
  /**
   * Failed pods the slot replaced since its pod template last changed: the
   * exponent of the back-off before the next replacement. A rollout (a new
   * template) starts it again at 0; slot-restarts, which names pods, goes on.
   */
  slotFailures: 'ferry.dev/slot-failures',
  /**
   * A digest of what a worker pod was made from: its spec and the NATS access in
   * the job's worker Secret. A live pod whose digest differs from the one the
   * operator would make now is replaced (operator/reconcile/podTemplate.ts).
   */
  podTemplate: 'ferry.dev/pod-template',
} as const;

export const workerRoles = ['source', 'destination'] as const;
export type WorkerRole = (typeof workerRoles)[number];

/** The port every worker serves probes, metrics and (destination) object transfers on. */
export const workerPort = 8080;

/** Environment variables the operator sets on worker pods. */
export const workerEnv = {
  role: 'FERRY_ROLE',
  jobNamespace: 'FERRY_JOB_NAMESPACE',
  jobName: 'FERRY_JOB_NAME',
  jobUid: 'FERRY_JOB_UID',
  podName: 'POD_NAME',
  podIp: 'POD_IP',
  port: 'FERRY_PORT',
  natsUrl: 'FERRY_NATS_URL',
  concurrency: 'FERRY_CONCURRENCY',
  store: 'FERRY_STORE',
  token: 'FERRY_WORKER_TOKEN',
  logLevel: 'FERRY_LOG_LEVEL',
  /** The task consumer's ack-wait: a source worker signals progress on a long task well within it. */
  taskAckWaitMs: 'FERRY_TASK_ACK_WAIT_MS',
  bandwidth: 'FERRY_BANDWIDTH_BYTES_PER_SECOND',
  /** A transfer with no byte moving either way for this long is cut (retryable); there is no total limit. */
  transferIdleTimeoutMs: 'FERRY_TRANSFER_IDLE_TIMEOUT_MS',
  /** Set only in a deleted job's upload-abort pod: the uploads to abort, as JSON [{key, uploadId}]. */
  abortUploads: 'FERRY_ABORT_UPLOADS',
  accessKeyId: 'AWS_ACCESS_KEY_ID',
  secretAccessKey: 'AWS_SECRET_ACCESS_KEY',
} as const;

/** The Secret holding a job's worker token: destination workers accept only requests bearing it. */
export function workerTokenSecretName(jobName: string): string {
  return `${jobName}-worker-token`;
}
export const workerTokenKey = 'token';

/** Where a job's records live in the ledger's etcd. Everything under it is the job's. */
export function ledgerPrefix(jobUid: string): string {
  return `/ferry/jobs/${jobUid}/`;
}

/** JetStream: one tasks stream and one status stream for all jobs, a subject per job. */
export const streams = { tasks: 'FERRY_TASKS', status: 'FERRY_STATUS' } as const;
/** Every durable consumer of a job carries this prefix, so cleanup can find them. */
export function consumerPrefix(jobUid: string): string {
  return `job-${jobUid}-`;
}
