// Generated from crds/ferry.dev_replicationjobs.yaml by api/generate.ts — do not edit.
// Change the CRD, then run `node api/generate.ts`.
import type { V1ListMeta, V1ObjectMeta } from '@kubernetes/client-node';

export const group = 'ferry.dev';
export const version = 'v1alpha1';
export const apiVersion = 'ferry.dev/v1alpha1';
export const kind = 'ReplicationJob';
export const listKind = 'ReplicationJobList';
export const plural = 'replicationjobs';
export const singular = 'replicationjob';
export const shortNames = ['rj'] as const;

/**
 * A ReplicationJob copies (mode Copy) or mirrors (mode Sync) the objects of a source store (an
 * S3-compatible bucket or a filesystem volume) to a destination store. The operator plans the job as
 * copy and delete tasks, runs them on source and destination worker pods, and after any failure
 * re-sends only the tasks that did not complete.
 */
export interface ReplicationJob {
  /** APIVersion defines the versioned schema of this representation of an object: ferry.dev/v1alpha1. */
  apiVersion: string;
  /** Kind is a string value representing the REST resource this object represents. */
  kind: string;
  /** Standard object metadata: the job's name, namespace, labels, ... */
  metadata: V1ObjectMeta;
  /** What to replicate, from where to where, and how. */
  spec: ReplicationJobSpec;
  /** Observed state of the job, written by the operator. */
  status?: ReplicationJobStatus;
}

/** What to replicate, from where to where, and how. */
export interface ReplicationJobSpec {
  /** The store objects are read from. Exactly one of s3 or filesystem must be set. */
  source: Store;
  /** The store objects are written to. Exactly one of s3 or filesystem must be set. */
  destination: Store;
  /**
   * Copy adds and updates destination objects; Sync also deletes destination objects the source does not
   * have (see deletion).
   *
   * Default: `"Copy"`.
   */
  mode?: ReplicationMode;
  /** Which source objects are replicated. Without filters, every object is. */
  filters?: Filters;
  /**
   * Safety limits for deleting destination objects; only used in mode Sync.
   *
   * Default: `{}`.
   */
  deletion?: DeletionPolicy;
  /**
   * The worker pods that read from the source and write to the destination.
   *
   * Default: `{}`.
   */
  workers?: Workers;
  /**
   * How the job is cut into tasks.
   *
   * Default: `{}`.
   */
  tasks?: TaskSettings;
  /**
   * How failed tasks are retried.
   *
   * Default: `{}`.
   */
  retry?: RetryPolicy;
  /**
   * How copied objects are verified.
   *
   * Default: `{}`.
   */
  verify?: Verification;
  /**
   * Most bytes per second the whole job transfers, as a quantity such as 100Mi or 500M; unset means
   * unlimited.
   */
  bandwidthLimit?: number | string;
  /**
   * Stop the job: worker pods are deleted and no tasks are sent. Setting it back to false resumes the
   * job where it stopped.
   *
   * Default: `false`.
   */
  suspend?: boolean;
  /**
   * Delete the job this many seconds after it succeeded or failed; unset keeps it.
   *
   * Minimum: 0.
   */
  ttlSecondsAfterFinished?: number;
  /**
   * Set to a new value, e.g. a timestamp, to retry a Failed job's failed tasks. The operator records the
   * value it acted on in status.lastRetryRequest.
   */
  retryRequest?: string;
}

/** A store of objects: exactly one of s3 or filesystem. */
export interface Store {
  /** An S3-compatible bucket (AWS S3, MinIO, Ceph RGW, versitygw, ...). */
  s3?: S3Store;
  /** A directory on a PersistentVolumeClaim, mounted into the worker pods. */
  filesystem?: FilesystemStore;
}

/** An S3-compatible bucket (AWS S3, MinIO, Ceph RGW, versitygw, ...). */
export interface S3Store {
  /** URL of the S3 endpoint, e.g. https://s3.eu-west-1.amazonaws.com. */
  endpoint: string;
  /**
   * Region used to sign requests (SigV4).
   *
   * Default: `"us-east-1"`.
   */
  region?: string;
  /**
   * Name of the bucket: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a
   * letter or digit.
   */
  bucket: string;
  /**
   * The directory of the bucket the store is: "backup" and "backup/" both mean the directory backup/, so
   * keys such as "backup-old/a" or "backupx.txt" are outside it; unset or "" is the whole bucket. In the
   * source, only keys under it are replicated; in the destination, keys are written under it (the source
   * prefix replaced by this one) and, in mode Sync, only keys under it can be deleted. It must not start
   * with "/". Source and destination must not overlap: in one bucket of one endpoint, neither prefix may
   * lie inside the other.
   */
  prefix?: string;
  /**
   * Address the bucket in the path (https://endpoint/bucket/key) rather than as a virtual host
   * (https://bucket.endpoint/key). Most non-AWS servers need path style.
   *
   * Default: `true`.
   */
  forcePathStyle?: boolean;
  /** The Secret, in the job's namespace, holding the access key pair the workers use. */
  credentialsSecretRef: S3CredentialsSecretRef;
  /**
   * A Secret, in the job's namespace, holding PEM CA certificates to trust for the endpoint in addition
   * to the system ones (for a private CA).
   */
  caBundleSecretRef?: SecretKeyRef;
}

/** The Secret, in the job's namespace, holding the access key pair the workers use. */
export interface S3CredentialsSecretRef {
  /** Name of the Secret. */
  name: string;
  /**
   * Key in the Secret whose value is the access key ID.
   *
   * Default: `"AWS_ACCESS_KEY_ID"`.
   */
  accessKeyIdKey?: string;
  /**
   * Key in the Secret whose value is the secret access key.
   *
   * Default: `"AWS_SECRET_ACCESS_KEY"`.
   */
  secretAccessKeyKey?: string;
}

/**
 * A Secret, in the job's namespace, holding PEM CA certificates to trust for the endpoint in addition
 * to the system ones (for a private CA).
 */
export interface SecretKeyRef {
  /** Name of the Secret. */
  name: string;
  /**
   * Key in the Secret whose value is the PEM bundle.
   *
   * Default: `"ca.crt"`.
   */
  key?: string;
}

/** A directory on a PersistentVolumeClaim, mounted into the worker pods. */
export interface FilesystemStore {
  /** Name of the PersistentVolumeClaim, in the job's namespace. */
  claimName: string;
  /**
   * Directory within the volume, starting with "/" (the volume's root); it must not contain a ".."
   * segment or a NUL character. Object keys are file paths relative to it. "/in" and "/in/" are the same
   * directory. Source and destination on one claim must not overlap: neither path may lie inside the
   * other.
   *
   * Default: `"/"`.
   */
  path?: string;
}

/**
 * Copy adds and updates destination objects; Sync also deletes destination objects the source does not
 * have (see deletion).
 */
export const replicationModes = ['Copy', 'Sync'] as const;
export type ReplicationMode = (typeof replicationModes)[number];

/** Which source objects are replicated. Without filters, every object is. */
export interface Filters {
  /**
   * Glob patterns (*, ?, **) matched against keys relative to the source prefix; when set, only matching
   * objects are replicated.
   */
  include?: string[];
  /** Glob patterns; matching objects are not replicated, even if they match include. */
  exclude?: string[];
  /**
   * Only objects of at least this many bytes are replicated.
   *
   * Minimum: 0.
   */
  minSize?: number;
  /**
   * Only objects of at most this many bytes are replicated.
   *
   * Minimum: 0.
   */
  maxSize?: number;
}

/** Safety limits for deleting destination objects; only used in mode Sync. */
export interface DeletionPolicy {
  /**
   * The job fails, deleting nothing, if it would delete more than this many destination objects.
   *
   * Default: `1000`. Minimum: 0.
   */
  maxDeletes?: number;
  /**
   * Plan and count deletions, but do not delete anything.
   *
   * Default: `false`.
   */
  dryRun?: boolean;
  /**
   * Allow deletions when the source lists no objects at all (otherwise the job fails, as an empty source
   * is more often a misconfiguration than an intent).
   *
   * Default: `false`.
   */
  allowEmptySource?: boolean;
}

/** The worker pods that read from the source and write to the destination. */
export interface Workers {
  /** Worker image; defaults to the image the operator was installed with. */
  image?: string;
  /** Pull policy of the worker image. */
  imagePullPolicy?: ImagePullPolicy;
  /**
   * The pool of worker pods that read from the source store.
   *
   * Default: `{}`.
   */
  source?: WorkerPool;
  /**
   * The pool of worker pods that write to the destination store.
   *
   * Default: `{}`.
   */
  destination?: WorkerPool;
}

/** Pull policy of the worker image. */
export const imagePullPolicies = ['Always', 'IfNotPresent', 'Never'] as const;
export type ImagePullPolicy = (typeof imagePullPolicies)[number];

/** A pool of worker pods. */
export interface WorkerPool {
  /**
   * Number of worker pods.
   *
   * Default: `1`. Range: 1 to 100.
   */
  replicas?: number;
  /**
   * Number of tasks each worker pod runs at the same time.
   *
   * Default: `8`. Range: 1 to 256.
   */
  concurrency?: number;
  /** Compute resources of each worker container. */
  resources?: ResourceRequirements;
  /** Labels a node must have for worker pods to be scheduled on it. */
  nodeSelector?: Record<string, string>;
  /** Taints the worker pods tolerate. */
  tolerations?: Toleration[];
  /** Scheduling constraints (a Pod spec's affinity), passed through unchanged. */
  affinity?: Record<string, unknown>;
  /** ServiceAccount the worker pods run as. */
  serviceAccountName?: string;
}

/** Compute resources of each worker container. */
export interface ResourceRequirements {
  /** Maximum amount of compute resources allowed, by resource name (cpu, memory, ...). */
  limits?: Record<string, number | string>;
  /** Minimum amount of compute resources required, by resource name (cpu, memory, ...). */
  requests?: Record<string, number | string>;
}

/** A toleration, as in a Pod spec. */
export interface Toleration {
  /** Taint key the toleration applies to; empty matches all keys. */
  key?: string;
  /** Exists matches any value; Equal (the default) matches value. */
  operator?: TolerationOperator;
  /** Taint value the toleration matches (with operator Equal). */
  value?: string;
  /** Taint effect to match; empty matches all effects. */
  effect?: TaintEffect;
  /** For effect NoExecute, how long the pod stays bound after the taint appears; unset means forever. */
  tolerationSeconds?: number;
}

/** Exists matches any value; Equal (the default) matches value. */
export const tolerationOperators = ['Exists', 'Equal'] as const;
export type TolerationOperator = (typeof tolerationOperators)[number];

/** Taint effect to match; empty matches all effects. */
export const taintEffects = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;
export type TaintEffect = (typeof taintEffects)[number];

/** How the job is cut into tasks. */
export interface TaskSettings {
  /**
   * Most objects in one task.
   *
   * Default: `1000`. Range: 1 to 100000.
   */
  maxObjects?: number;
  /**
   * Most bytes in one task (a larger object gets a task of its own).
   *
   * Default: `67108864`. Minimum: 1.
   */
  maxBytes?: number;
  /**
   * Part size of multipart uploads, in bytes (5 MiB to 5 GiB).
   *
   * Default: `67108864`. Range: 5242880 to 5368709120.
   */
  partSize?: number;
}

/** How failed tasks are retried. */
export interface RetryPolicy {
  /**
   * Attempts per task before it, and the job, fail.
   *
   * Default: `5`. Range: 1 to 100.
   */
  maxAttempts?: number;
  /**
   * Wait before the first retry; it doubles with each attempt.
   *
   * Default: `5`. Minimum: 1.
   */
  initialBackoffSeconds?: number;
  /**
   * Longest wait between retries.
   *
   * Default: `300`. Minimum: 1.
   */
  maxBackoffSeconds?: number;
}

/** How copied objects are verified. */
export interface Verification {
  /**
   * Checksum computed while reading and checked before each object is committed. SHA256 is the only one
   * built so far; other algorithms are refused rather than silently replaced.
   *
   * Default: `"SHA256"`.
   */
  checksum?: ChecksumAlgorithm;
}

/**
 * Checksum computed while reading and checked before each object is committed. SHA256 is the only one
 * built so far; other algorithms are refused rather than silently replaced.
 */
export const checksumAlgorithms = ['SHA256'] as const;
export type ChecksumAlgorithm = (typeof checksumAlgorithms)[number];

/** Observed state of the job, written by the operator. */
export interface ReplicationJobStatus {
  /** The spec generation this status describes. */
  observedGeneration?: number;
  /** A one-word summary of the conditions, for display only; act on the conditions. */
  phase?: ReplicationJobPhase;
  /**
   * Latest observations of the job's state, one per type. Ready: all worker pods are running and ready.
   * Complete: the job finished successfully (kubectl wait --for=condition=Complete). Failed: the job
   * finished unsuccessfully. Suspended: spec.suspend is in effect. Degraded: the job's engine waits for
   * a store, the ledger's etcd or NATS to answer (StoreUnreachable, LedgerUnreachable, LedgerOutOfSpace,
   * NatsUnreachable); False/Reachable once the outage is over. Reconciling and Stalled follow the
   * kstatus convention.
   */
  conditions?: Condition[];
  /**
   * When the operator started the job. From then on spec.source and spec.destination cannot change.
   *
   * An RFC 3339 date-time.
   */
  startTime?: string;
  /**
   * When the job succeeded or failed.
   *
   * An RFC 3339 date-time.
   */
  completionTime?: string;
  /** Object counts. */
  objects?: TransferCounts;
  /** Byte counts, in the same categories as objects. */
  bytes?: TransferCounts;
  /** Task counts by state. */
  tasks?: TaskCounts;
  /**
   * Percent of the planned bytes that have been handled.
   *
   * Range: 0 to 100.
   */
  progressPercent?: number;
  /** How many times the job was resumed after an interruption (operator restart, suspension). */
  resumes?: number;
  /** The most recent failure, kept after the job recovers from it. */
  lastFailure?: Failure;
  /** Ready worker pods. */
  workers?: WorkerCounts;
  /**
   * Up to 100 objects that failed, each with its reason; failedObjectsTotal counts them all, and the
   * ConfigMap <job>-failures lists every one the workers named.
   */
  failedObjects?: {
    /** The object's key. */
    key: string;
    /** Why it failed, as the worker saw it. */
    reason: string;
  }[];
  /** How many objects failed in all (failedObjects lists at most 100 of them). */
  failedObjectsTotal?: number;
  /**
   * The ConfigMap (in the job's namespace, owned by the job) that lists every failure the workers named,
   * written when the job fails.
   */
  failureReport?: string;
  /** The spec.retryRequest value the operator last acted on. */
  lastRetryRequest?: string;
}

/** A one-word summary of the conditions, for display only; act on the conditions. */
export const replicationJobPhases = ['Pending', 'Running', 'Suspended', 'Succeeded', 'Failed'] as const;
export type ReplicationJobPhase = (typeof replicationJobPhases)[number];

/** A condition, as metav1.Condition. */
export interface Condition {
  /** Type of condition in CamelCase, e.g. Complete. */
  type: string;
  /** Status of the condition. */
  status: ConditionStatus;
  /**
   * The spec generation the condition was set for.
   *
   * Minimum: 0.
   */
  observedGeneration?: number;
  /**
   * When the condition last changed status.
   *
   * An RFC 3339 date-time.
   */
  lastTransitionTime: string;
  /** A CamelCase reason for the condition's last transition. */
  reason: string;
  /** A human-readable message with details about the transition. */
  message: string;
}

/** Status of the condition. */
export const conditionStatuses = ['True', 'False', 'Unknown'] as const;
export type ConditionStatus = (typeof conditionStatuses)[number];

/** Counts by outcome, of objects or of bytes. */
export interface TransferCounts {
  /** Planned for copying or deletion. */
  planned?: number;
  /** Copied to the destination. */
  copied?: number;
  /** Skipped, as already present and identical in the destination. */
  skipped?: number;
  /** Deleted from the destination (mode Sync). */
  deleted?: number;
  /** Failed permanently. */
  failed?: number;
}

/** Task counts by state. */
export interface TaskCounts {
  /** Planned and not yet sent to a worker. */
  pending?: number;
  /** Sent to the workers and not yet started. */
  dispatched?: number;
  /** Being carried out by a worker. */
  running?: number;
  /** Completed successfully. */
  succeeded?: number;
  /** Failed after all their attempts. */
  failed?: number;
}

/** The most recent failure, kept after the job recovers from it. */
export interface Failure {
  /** A CamelCase reason for the failure. */
  reason?: string;
  /** A human-readable description of the failure. */
  message?: string;
  /**
   * When the failure happened.
   *
   * An RFC 3339 date-time.
   */
  time?: string;
}

/** Ready worker pods. */
export interface WorkerCounts {
  /** Source worker pods that are ready. */
  sourceReady?: number;
  /** Destination worker pods that are ready. */
  destinationReady?: number;
}

/** A list of ReplicationJobs, as the API server returns it. */
export interface ReplicationJobList {
  apiVersion: string;
  kind: string;
  metadata?: V1ListMeta;
  items: ReplicationJob[];
}
