// The rules that keep Sync from deleting what it should not, applied to a
// complete plan's totals before any delete task is dispatched (ADR 0004).
import type { ReplicationJobSpec } from '../../api/v1alpha1/index.ts';
import type { PlanTotals } from './taskPlanner.ts';

export type DeleteVerdict =
  { allowed: true } | { allowed: false; reason: 'SourceListingEmpty' | 'TooManyDeletes'; message: string };

export function judgeDeletes(totals: PlanTotals, deletion: ReplicationJobSpec['deletion']): DeleteVerdict {
  if (totals.objectsToDelete === 0) return { allowed: true };
  if (totals.sourceObjects === 0 && !deletion?.allowEmptySource) {
    return {
      allowed: false,
      reason: 'SourceListingEmpty',
      message:
        `the source listing is empty but ${totals.objectsToDelete} destination objects would be deleted; ` +
        'if that is intended set spec.deletion.allowEmptySource: true',
    };
  }
  const maxDeletes = deletion?.maxDeletes ?? 1000;
  if (totals.objectsToDelete > maxDeletes) {
    return {
      allowed: false,
      reason: 'TooManyDeletes',
      message: `the plan deletes ${totals.objectsToDelete} destination objects, more than spec.deletion.maxDeletes (${maxDeletes}); nothing was deleted`,
    };
  }
  return { allowed: true };
}
