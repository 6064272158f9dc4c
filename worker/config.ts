// The worker's settings, read once from the environment the operator sets on
// its pod (see api/names.ts) and validated into typed values. A bad value stops
// the worker at start-up with a message naming the variable.
import { workerEnv, workerRoles, type WorkerRole } from '../api/names.ts';
import { readNatsAuth, type NatsAuth } from '../common/natsAuth.ts';
import type { UploadToAbort } from '../api/uploads.ts';
import type { StoreConfig } from '../storage/index.ts';

export interface WorkerConfig {
  role: WorkerRole;
  jobNamespace: string;
  jobName: string;
  jobUid: string;
  podName: string;
  /** The address to listen on: the pod's own IP (pods on the local bed share a host). */
  listenHost: string;
  port: number;
  natsUrl: string;
  /** TLS files and credentials for NATS: what the operator passed on from its own (FERRY_NATS_TLS_*, _USER/_PASSWORD, _CREDS_FILE). */
  natsAuth: NatsAuth;
  concurrency: number;
  store: StoreConfig;
  token: string;
  /**
   * How often a source worker tells JetStream it is still working on a task:
   * a third of the task consumer's ack-wait, so one late signal does not get
   * the task redelivered to another worker.
   */
  workingIntervalMs: number;
  /** A source worker's share of the job's bandwidth limit (bytes per second); unset: unlimited. */
  bandwidthBytesPerSecond?: number;
  /**
   * A transfer with no byte moving either way for this long is cut, and its
   * task fails as retryable (FERRY_TRANSFER_IDLE_TIMEOUT_MS); no total limit.
   * The HTTP server holds a request body to the same idle bound.
   */
  transferIdleTimeoutMs: number;
  /** How long a source worker waits for a destination worker to be announced before handing a task back. */
  destinationWaitMs: number;
}

export class WorkerConfigError extends Error {}

export const defaultTransferIdleTimeoutMs = 60_000;
/** Long enough for a destination pod to be replaced (its slot's base back-off and start-up). */
export const defaultDestinationWaitMs = 60_000;

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new WorkerConfigError(`${name} is required`);
  return value;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback?: number): number {
  if (fallback !== undefined && !env[name]) return fallback;
  const raw = required(env, name);
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new WorkerConfigError(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

function parseStore(raw: string): StoreConfig {
  let store: unknown;
  try {
    store = JSON.parse(raw);
  } catch (err) {
    throw new WorkerConfigError(`${workerEnv.store} is not valid JSON: ${(err as Error).message}`);
  }
  const s = store as Record<string, Record<string, unknown> | undefined>;
  if (s?.s3 && typeof s.s3.endpoint === 'string' && typeof s.s3.bucket === 'string')
    return store as StoreConfig;
  if (s?.filesystem && typeof s.filesystem.mountPath === 'string') return store as StoreConfig;
  throw new WorkerConfigError(
    `${workerEnv.store} must describe an s3 store (endpoint, bucket) or a filesystem store (mountPath)`,
  );
}

/** The configuration of a deleted job's upload-abort run: the destination store and what to abort. */
export interface UploadAbortConfig {
  store: StoreConfig;
  uploads: UploadToAbort[];
}

/** Set in a deleted job's upload-abort pod only (operator/reconcile/uploadAbortPod.ts). */
export function isUploadAbortRun(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[workerEnv.abortUploads] !== undefined;
}

export function loadUploadAbortConfig(env: NodeJS.ProcessEnv = process.env): UploadAbortConfig {
  const raw = required(env, workerEnv.abortUploads);
  let uploads: unknown;
  try {
    uploads = JSON.parse(raw);
  } catch (err) {
    throw new WorkerConfigError(`${workerEnv.abortUploads} is not valid JSON: ${(err as Error).message}`);
  }
  const valid = (u: unknown): u is UploadToAbort =>
    typeof (u as UploadToAbort)?.key === 'string' && typeof (u as UploadToAbort)?.uploadId === 'string';
  if (!Array.isArray(uploads) || !uploads.every(valid))
    throw new WorkerConfigError(`${workerEnv.abortUploads} must be a JSON array of {"key", "uploadId"}`);
  return { store: parseStore(required(env, workerEnv.store)), uploads };
}

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const role = required(env, workerEnv.role);
  if (!(workerRoles as readonly string[]).includes(role)) {
    throw new WorkerConfigError(`${workerEnv.role} must be one of ${workerRoles.join(', ')}, got "${role}"`);
  }
  return {
    role: role as WorkerRole,
    jobNamespace: required(env, workerEnv.jobNamespace),
    jobName: required(env, workerEnv.jobName),
    jobUid: required(env, workerEnv.jobUid),
    podName: required(env, workerEnv.podName),
    listenHost: env[workerEnv.podIp] || '0.0.0.0',
    port: positiveInt(env, workerEnv.port),
    natsUrl: required(env, workerEnv.natsUrl),
    natsAuth: readNatsAuth(env, (message) => new WorkerConfigError(message)),
    concurrency: positiveInt(env, workerEnv.concurrency),
    store: parseStore(required(env, workerEnv.store)),
    token: required(env, workerEnv.token),
    ...(env[workerEnv.bandwidth] ? { bandwidthBytesPerSecond: positiveInt(env, workerEnv.bandwidth) } : {}),
    workingIntervalMs: Math.max(100, Math.floor(positiveInt(env, workerEnv.taskAckWaitMs, 60_000) / 3)),
    transferIdleTimeoutMs: positiveInt(env, workerEnv.transferIdleTimeoutMs, defaultTransferIdleTimeoutMs),
    destinationWaitMs: defaultDestinationWaitMs,
  };
}
