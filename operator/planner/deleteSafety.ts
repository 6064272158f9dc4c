// The rules that keep Sync from deleting what it should not (ADR 0004). They
// are judged twice: by the counting pre-pass before the first copy of a Sync
// (deletePrePass.ts, ADR 0035), and on the complete plan's totals before any
// delete task is dispatched (a dry run, or a plan resumed complete).
import type { ReplicationJobSpec } from '../../api/v1alpha1/index.ts';
import type { PlanTotals } from './taskPlanner.ts';

/** Why a job is refused before its first copy (or, for the first two, before its first delete). */
export type DeleteRefusal =
  'SourceListingEmpty' | 'TooManyDeletes' | 'DeleteNameCollision' | 'SourceNameCollision';

export type DeleteVerdict = { allowed: true } | { allowed: false; reason: DeleteRefusal; message: string };

/** `stoppedCounting`: the pre-pass stopped counting past maxDeletes, so the count is a lower bound. */
export function judgeDeletes(
  totals: PlanTotals,
  deletion: ReplicationJobSpec['deletion'],
  stoppedCounting = false,
): DeleteVerdict {
  if (totals.objectsToDelete === 0) return { allowed: true };
  if (totals.sourceObjects === 0 && !deletion?.allowEmptySource && !stoppedCounting) {
    return {
      allowed: false,
      reason: 'SourceListingEmpty',
      message:
        `the source listing is empty but ${totals.objectsToDelete} destination objects would be deleted; ` +
        'if that is intended set spec.deletion.allowEmptySource: true; nothing was deleted',
    };
  }
  const maxDeletes = deletion?.maxDeletes ?? 1000;
  if (totals.objectsToDelete > maxDeletes) {
    const count = stoppedCounting ? `more than ${maxDeletes}` : `${totals.objectsToDelete}`;
    return {
      allowed: false,
      reason: 'TooManyDeletes',
      message: `the plan deletes ${count} destination objects, more than spec.deletion.maxDeletes (${maxDeletes}); nothing was deleted`,
    };
  }
  return { allowed: true };
}
