// What decide reads and what it returns: the gathered input of one reconcile
// and the decision that apply and record carry out (ADR 0003).
import type * as k8s from '@kubernetes/client-node';
import type { ReplicationJob, ReplicationJobStatus } from '../../api/v1alpha1/index.ts';
import type { UploadToAbort } from '../../api/uploads.ts';
import type { EngineProgress } from '../engine/engineProgress.ts';
import type { ConditionUpdate } from './conditions.ts';
import type { WorkerPodSettings } from './workerPods.ts';

export interface Observed {
  job: ReplicationJob;
  /** Pods the job owns (selected by the job's UID label). */
  pods: readonly k8s.V1Pod[];
  tokenSecretExists: boolean;
  /** The NATS entries the job's worker Secret holds, when it exists (see workerNatsAccess.ts). */
  workerSecretNats?: Readonly<Record<string, string>>;
  now: Date;
  /** The job's task engine, when one runs for it (the leader's, in memory). */
  progress?: EngineProgress;
  /**
   * A deleted job's uploads still open at a filesystem destination (read once
   * its worker pods are gone; undefined when not read or unreadable).
   */
  uploadsToAbort?: readonly UploadToAbort[];
}

export interface DecideSettings extends WorkerPodSettings {
  /** A failed worker pod is replaced after base·2^failures, capped at max. */
  podRestartBackoffBaseMs: number;
  podRestartBackoffMaxMs: number;
}

export type Action =
  | { kind: 'AddFinalizer' }
  | { kind: 'RemoveFinalizer' }
  | { kind: 'CreateTokenSecret' }
  | { kind: 'DeleteTokenSecret' }
  /** The worker Secret's NATS entries become the operator's current ones, for the pods created next. */
  | { kind: 'UpdateWorkerSecretNats' }
  | { kind: 'CreatePod'; pod: k8s.V1Pod }
  | { kind: 'DeletePod'; name: string }
  | { kind: 'RemoveExternalState' }
  /** The job's JetStream streams and durable consumers (idempotent). */
  | { kind: 'EnsureJobStreams' }
  | { kind: 'DeleteJob' };

export interface JobEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface Decision {
  actions: Action[];
  /** The status to record; undefined when the job is going away. */
  status?: ReplicationJobStatus;
  events: JobEvent[];
  requeueAfterMs?: number;
}

export type Phase = NonNullable<ReplicationJobStatus['phase']>;

/**
 * What one policy contributes to a decision. decide applies outcomes in order:
 * actions and events are appended, condition updates applied one after the
 * other, status fields merged (a field given as undefined is removed), and the
 * earliest requeue wins.
 */
export interface PolicyOutcome {
  actions?: Action[];
  events?: JobEvent[];
  conditions?: ConditionUpdate[];
  status?: Partial<ReplicationJobStatus>;
  requeueAfterMs?: number;
}

/** The earlier of two requeue delays, either of which may be absent. */
export function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}
