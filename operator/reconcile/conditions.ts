// Conditions follow metav1.Condition (ADR 0003). The set is chosen so that both
// people and tools read a job right:
// - Ready: the job's worker pods are all running and ready.
// - Complete / Failed: terminal outcomes; `kubectl wait --for=condition=Complete`.
// - Suspended: spec.suspend is honoured (no worker pods).
// - Reconciling / Stalled: the kstatus convention (Flux, Argo CD health checks):
//   Reconciling=True reads as in progress, Stalled=True as failed, neither (with
//   an up-to-date observedGeneration) as current.
// - Degraded: the engine waits for a store, the ledger or NATS to come back
//   (outageConditions.ts); absent until the job's first outage.
import type { Condition } from '../../api/v1alpha1/index.ts';

export const ConditionType = {
  Ready: 'Ready',
  Complete: 'Complete',
  Failed: 'Failed',
  Suspended: 'Suspended',
  Reconciling: 'Reconciling',
  Stalled: 'Stalled',
  Degraded: 'Degraded',
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

export const Reason = {
  WorkersStarting: 'WorkersStarting',
  WorkersReady: 'WorkersReady',
  WorkersNotReady: 'WorkersNotReady',
  WorkerPodFailed: 'WorkerPodFailed',
  WorkerPodRecreated: 'WorkerPodRecreated',
  WorkerPodOutdated: 'WorkerPodOutdated',
  AbortingUploads: 'AbortingUploads',
  UploadsAborted: 'UploadsAborted',
  UploadsLeft: 'UploadsLeft',
  Replicating: 'Replicating',
  Suspended: 'Suspended',
  Resumed: 'Resumed',
  NotSuspended: 'NotSuspended',
  Started: 'Started',
  Succeeded: 'Succeeded',
  Failed: 'Failed',
  Finished: 'Finished',
  NoFailure: 'NoFailure',
  InProgress: 'InProgress',
  TtlExpired: 'TtlExpired',
  ReconcileError: 'ReconcileError',
  RetryRequested: 'RetryRequested',
  RetryIgnored: 'RetryIgnored',
  Reachable: 'Reachable',
  Recovered: 'Recovered',
} as const;

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ConditionUpdate {
  type: ConditionType;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/**
 * Returns the conditions with `update` applied. lastTransitionTime changes
 * only when the status does, so an unchanged condition yields an equal list
 * (and so no status write).
 */
export function setCondition(
  conditions: readonly Condition[],
  update: ConditionUpdate,
  observedGeneration: number,
  now: Date,
): Condition[] {
  const existing = conditions.find((c) => c.type === update.type);
  const next: Condition = {
    ...update,
    observedGeneration,
    lastTransitionTime:
      existing && existing.status === update.status ? existing.lastTransitionTime : rfc3339(now),
  };
  const others = conditions.filter((c) => c.type !== update.type);
  return [...others, next].sort((a, b) => a.type.localeCompare(b.type));
}

/** A metav1.Time as the API server writes it: RFC 3339, whole seconds. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: ConditionType): boolean {
  return conditions?.some((c) => c.type === type && c.status === 'True') ?? false;
}
