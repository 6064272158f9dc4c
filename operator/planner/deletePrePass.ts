// The delete guards judged before the first copy of a Sync (ADR 0035). Copies
// are sent while planning goes on (ADR 0011), so a guard judged on the complete
// plan would fire after copies had overwritten destination objects. This
// pre-pass reads the merged listings once, counting what the plan would delete
// and whether the source lists anything in scope, without building tasks, and
// stops as soon as more than maxDeletes deletes are seen. The delete candidates
// it keeps (at most maxDeletes: beyond that the guard fires anyway) let a
// second, source-only pass refuse a delete whose folded name equals a source
// key's (nameFolding.ts): on a destination that folds names that delete would
// remove the very object the job copies or keeps.
import type { ReplicationJobSpec } from '../../api/v1alpha1/index.ts';
import type { ObjectInfo } from '../../storage/objectStore.ts';
import { judgeDeletes, type DeleteRefusal, type DeleteVerdict } from './deleteSafety.ts';
import type { KeyFilter } from './filters.ts';
import type { KeyDecision } from './listingMerge.ts';
import { foldedName } from './nameFolding.ts';
import { emptyTotals } from './taskPlanner.ts';

/** What the counting pass found; `candidates` maps each delete's folded name to its keys. */
export interface DeleteCount {
  deletes: number;
  sourceObjects: number;
  /** More than maxDeletes were seen: the pass stopped there, `deletes` is maxDeletes + 1. */
  exceeded: boolean;
  candidates: Map<string, string[]>;
}

/** A delete refused because a source key of the job folds to the same name. */
export interface NameCollision {
  deleteKey: string;
  sourceKey: string;
}

/** Counts the Sync deletes of the merged listings, in scope only, stopping past `maxDeletes`. */
export async function countDeletes(
  decisions: AsyncIterable<KeyDecision>,
  inScope: KeyFilter,
  maxDeletes: number,
): Promise<DeleteCount> {
  const count: DeleteCount = { deletes: 0, sourceObjects: 0, exceeded: false, candidates: new Map() };
  for await (const decision of decisions) {
    if (decision.kind !== 'extra') {
      if (inScope(decision.source.key, decision.source.size)) count.sourceObjects++;
      continue;
    }
    const { key, size } = decision.destination;
    if (!inScope(key, size)) continue;
    count.deletes++;
    if (count.deletes > maxDeletes) {
      count.exceeded = true;
      count.candidates.clear();
      return count;
    }
    const folded = foldedName(key);
    count.candidates.set(folded, [...(count.candidates.get(folded) ?? []), key]);
  }
  return count;
}

/**
 * The deletes whose folded name equals an in-scope source key's: the source
 * listing is read once more, checking each key's folded name against the
 * bounded candidate set. At most `limit` collisions are returned.
 */
export async function findNameCollisions(
  sourceListing: AsyncIterable<ObjectInfo>,
  candidates: ReadonlyMap<string, readonly string[]>,
  inScope: KeyFilter,
  limit = 100,
): Promise<NameCollision[]> {
  const found: NameCollision[] = [];
  if (candidates.size === 0) return found;
  for await (const object of sourceListing) {
    if (!inScope(object.key, object.size)) continue;
    for (const deleteKey of candidates.get(foldedName(object.key)) ?? []) {
      found.push({ deleteKey, sourceKey: object.key });
      if (found.length >= limit) return found;
    }
  }
  return found;
}

/** The verdict on a count: the guards of deleteSafety.ts, then the name collisions. */
export function judgeCountedDeletes(
  count: DeleteCount,
  collisions: readonly NameCollision[],
  deletion: ReplicationJobSpec['deletion'],
): DeleteVerdict {
  const totals = { ...emptyTotals(), objectsToDelete: count.deletes, sourceObjects: count.sourceObjects };
  const verdict = judgeDeletes(totals, deletion, count.exceeded);
  if (!verdict.allowed)
    return {
      ...verdict,
      message: verdict.message.replace(/nothing was deleted$/, 'nothing was copied or deleted'),
    };
  if (collisions.length === 0) return verdict;
  const shown = collisions
    .slice(0, 10)
    .map((c) => `${JSON.stringify(c.deleteKey)} (source ${JSON.stringify(c.sourceKey)})`);
  const more = collisions.length > shown.length ? ` and ${collisions.length - shown.length} more` : '';
  return {
    allowed: false,
    reason: 'DeleteNameCollision',
    message:
      `refusing to delete ${shown.join(', ')}${more}: each differs from a source key only in case or Unicode ` +
      'normalisation, so on a destination that folds names it is the object the job copies; nothing was copied or deleted',
  };
}

/** The pre-pass refused the Sync's deletes: the job fails before anything is copied. */
export class DeletesRefused extends Error {
  readonly failure: { reason: DeleteRefusal; message: string };

  constructor(failure: { reason: DeleteRefusal; message: string }) {
    super(failure.message);
    this.failure = failure;
  }
}
