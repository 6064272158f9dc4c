// Fixtures for the policy tables of operator/reconcile/.
import type { Condition } from '../../../../api/v1alpha1/index.ts';
import {
  setCondition,
  type ConditionType,
  type ConditionUpdate,
} from '../../../../operator/reconcile/conditions.ts';
import type { Action } from '../../../../operator/reconcile/decision.ts';

export const now = new Date('2026-11-24T12:00:00Z');

/** A plan of 10 copies (1000 bytes), 1 delete and 2 objects skipped. */
export const planTotals = {
  objectsToCopy: 10,
  bytesToCopy: 1000,
  objectsSkipped: 2,
  bytesSkipped: 200,
  objectsToDelete: 1,
  sourceObjects: 12,
  tasks: 3,
};

/** A recorded condition, an hour old. */
export function condition(
  type: ConditionType,
  status: 'True' | 'False',
  reason = 'R',
  message = 'm',
): Condition {
  return { type, status, reason, message, lastTransitionTime: '2026-11-24T11:00:00Z', observedGeneration: 1 };
}

/** The conditions `updates` leave, applied in order to `from`. */
export function applied(
  updates: readonly ConditionUpdate[] = [],
  from: readonly Condition[] = [],
): Condition[] {
  return updates.reduce<Condition[]>(
    (conditions, update) => setCondition(conditions, update, 1, now),
    [...from],
  );
}

/** Each condition as `Type=Status/Reason`, sorted by type. */
export function statuses(conditions: readonly Condition[]): string[] {
  return conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);
}

/** Actions as people read them: `CreatePod copy-source-0-1`, `DeleteTokenSecret`. */
export function summary(actions: readonly Action[] = []): string[] {
  return actions.map((a) =>
    a.kind === 'CreatePod'
      ? `CreatePod ${a.pod.metadata!.name}`
      : a.kind === 'DeletePod'
        ? `DeletePod ${a.name}`
        : a.kind,
  );
}
