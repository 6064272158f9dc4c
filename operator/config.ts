// The operator's configuration, read once from the environment and validated
// into typed values; an invalid variable stops start-up with its name.
import os from 'node:os';
import { imagePullPolicies, type ImagePullPolicy } from '../api/v1alpha1/index.ts';
import {
  readCredentialPair,
  readNatsAuth,
  readTlsFiles,
  type NatsAuth,
  type TlsFiles,
} from '../common/natsAuth.ts';

export interface OperatorConfig {
  /** The namespace the operator runs in: where its leader Lease lives. */
  namespace: string;
  watchNamespace?: string;
  identity: string;
  probeHost: string;
  probePort: number;
  reconcileConcurrency: number;
  workerImage: string;
  /** FERRY_WORKER_IMAGE_PULL_POLICY: the pull policy of worker pods running workerImage; unset: Kubernetes' default. */
  workerImagePullPolicy?: ImagePullPolicy;
  /** FERRY_LOG_LEVEL given to worker pods; `debug` logs every object a destination commits (an audit trail). */
  workerLogLevel: LogLevel;
  natsUrl: string;
  /** TLS files and credentials for NATS (FERRY_NATS_TLS_*, FERRY_NATS_USER/PASSWORD, FERRY_NATS_CREDS_FILE). */
  natsAuth: NatsAuth;
  /** How often the NATS files are re-read to pick up a rotation (FERRY_NATS_FILES_RECHECK_MS). */
  natsFilesRecheckMs: number;
  /** Copies planning may send ahead of their statuses (FERRY_PLAN_AHEAD_TASKS; ADR 0017). */
  planAheadTasks: number;
  etcdEndpoints: string[];
  /** TLS files and credentials for the ledger's etcd (FERRY_ETCD_TLS_*, FERRY_ETCD_USERNAME/PASSWORD). */
  etcdAuth: { tls?: TlsFiles; username?: string; password?: string };
  leaseName: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  podRestartBackoffBaseMs: number;
  podRestartBackoffMaxMs: number;
  /**
   * FERRY_TASK_ACK_WAIT_MS: how long a task held by a source worker that
   * stopped signalling progress (a killed pod) waits before JetStream hands it
   * to another worker. Workers signal progress every third of it.
   */
  taskAckWaitMs: number;
  /** FERRY_TASK_MAX_DELIVER: deliveries of one task message before JetStream gives up on it (a resume re-sends it). */
  taskMaxDeliver: number;
  /** FERRY_TRANSFER_IDLE_TIMEOUT_MS: a worker-to-worker transfer with no byte moving for this long is cut (retryable). */
  transferIdleTimeoutMs: number;
}

export type { TlsFiles };

export class ConfigError extends Error {}

export const logLevels = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof logLevels)[number];

function logLevel(env: NodeJS.ProcessEnv, name: string, fallback: LogLevel): LogLevel {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(logLevels as readonly string[]).includes(raw))
    throw new ConfigError(`${name} must be one of ${logLevels.join(', ')}, got "${raw}"`);
  return raw as LogLevel;
}

const configError = (message: string) => new ConfigError(message);

function pullPolicy(env: NodeJS.ProcessEnv, name: string): ImagePullPolicy | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!(imagePullPolicies as readonly string[]).includes(raw))
    throw new ConfigError(`${name} must be one of ${imagePullPolicies.join(', ')}, got "${raw}"`);
  return raw as ImagePullPolicy;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

/** The shortest task ack-wait: workers signal progress every third of it, and a signal must get through. */
/** Kept here rather than imported from the engine, so loading the configuration loads no client libraries. */
export const defaultPlanAheadTasks = 1_000;

export const minTaskAckWaitMs = 1_000;

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new ConfigError(`${name} is required`);
  return value;
}

function url(name: string, value: string, protocols: string[]): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(`${name} is not a URL: "${value}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must use ${protocols.join(' or ')}, got "${value}"`);
  }
  return value;
}

export function loadOperatorConfig(env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const [probeHost, probePortRaw] = (env.FERRY_PROBE_ADDRESS ?? '0.0.0.0:8081').split(/:(?=\d+$)/);
  const probePort = Number(probePortRaw);
  if (!probeHost || !Number.isInteger(probePort) || probePort < 0 || probePort > 65535) {
    throw new ConfigError(`FERRY_PROBE_ADDRESS must be host:port, got "${env.FERRY_PROBE_ADDRESS}"`);
  }
  const config: OperatorConfig = {
    namespace: env.FERRY_NAMESPACE || 'ferry-system',
    watchNamespace: env.FERRY_WATCH_NAMESPACE || undefined,
    identity: env.POD_NAME || `${os.hostname()}-${process.pid}`,
    probeHost,
    probePort,
    reconcileConcurrency: positiveInt(env, 'FERRY_RECONCILE_CONCURRENCY', 4),
    workerImage: required(env, 'FERRY_WORKER_IMAGE'),
    workerImagePullPolicy: pullPolicy(env, 'FERRY_WORKER_IMAGE_PULL_POLICY'),
    workerLogLevel: logLevel(env, 'FERRY_WORKER_LOG_LEVEL', 'info'),
    natsUrl: url('FERRY_NATS_URL', required(env, 'FERRY_NATS_URL'), ['nats:', 'tls:']),
    etcdEndpoints: required(env, 'FERRY_ETCD_ENDPOINTS')
      .split(',')
      .map((e) => url('FERRY_ETCD_ENDPOINTS', e.trim(), ['http:', 'https:'])),
    natsAuth: readNatsAuth(env, configError),
    natsFilesRecheckMs: positiveInt(env, 'FERRY_NATS_FILES_RECHECK_MS', 30_000),
    planAheadTasks: positiveInt(env, 'FERRY_PLAN_AHEAD_TASKS', defaultPlanAheadTasks),
    etcdAuth: (() => {
      const { user, password } = readCredentialPair(
        env,
        'FERRY_ETCD_USERNAME',
        'FERRY_ETCD_PASSWORD',
        configError,
      );
      return { tls: readTlsFiles(env, 'ETCD', configError), ...(user ? { username: user, password } : {}) };
    })(),
    leaseName: env.FERRY_LEASE_NAME || 'ferry-operator-leader',
    leaseDurationMs: positiveInt(env, 'FERRY_LEASE_DURATION_MS', 15_000),
    renewDeadlineMs: positiveInt(env, 'FERRY_RENEW_DEADLINE_MS', 10_000),
    retryPeriodMs: positiveInt(env, 'FERRY_RETRY_PERIOD_MS', 2_000),
    podRestartBackoffBaseMs: positiveInt(env, 'FERRY_POD_RESTART_BACKOFF_BASE_MS', 2_000),
    podRestartBackoffMaxMs: positiveInt(env, 'FERRY_POD_RESTART_BACKOFF_MAX_MS', 300_000),
    taskAckWaitMs: positiveInt(env, 'FERRY_TASK_ACK_WAIT_MS', 60_000),
    taskMaxDeliver: positiveInt(env, 'FERRY_TASK_MAX_DELIVER', 5),
    transferIdleTimeoutMs: positiveInt(env, 'FERRY_TRANSFER_IDLE_TIMEOUT_MS', 60_000),
  };
  if (config.taskAckWaitMs < minTaskAckWaitMs) {
    throw new ConfigError(
      `FERRY_TASK_ACK_WAIT_MS must be at least ${minTaskAckWaitMs} (milliseconds), got "${env.FERRY_TASK_ACK_WAIT_MS}"`,
    );
  }
  if (config.renewDeadlineMs >= config.leaseDurationMs) {
    throw new ConfigError('FERRY_RENEW_DEADLINE_MS must be shorter than FERRY_LEASE_DURATION_MS');
  }
  return config;
}
