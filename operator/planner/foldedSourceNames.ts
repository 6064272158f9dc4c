// Source keys that one folding destination would store as one object (ADR
// 0035): on a volume that ignores case or normalises Unicode, `Report.pdf` and
// `report.pdf` are one file, so copying both keeps only the one written last.
// Checked before the first copy, when the destination's worker found its
// volume folds names; the job is refused, naming the keys, rather than losing
// either. The keys' folded names are held in memory (colliding spellings need
// not sort near each other), so the check is bounded: past `maxKeys` keys it
// refuses the job rather than copy unchecked.
import type { ObjectInfo } from '../../storage/objectStore.ts';
import type { DeleteVerdict } from './deleteSafety.ts';
import type { KeyFilter } from './filters.ts';
import { foldedName } from './nameFolding.ts';

/** About 200 bytes a key: some 200 MB of the operator's memory at the limit. */
export const maxFoldCheckedKeys = 1_000_000;

export interface SourceCollisions {
  /** Pairs of in-scope source keys with one folded name, at most `limit`. */
  pairs: Array<[string, string]>;
  /** More than maxKeys source keys: the check stopped there. */
  tooMany: boolean;
}

export async function findSourceCollisions(
  sourceListing: AsyncIterable<ObjectInfo>,
  inScope: KeyFilter,
  { maxKeys = maxFoldCheckedKeys, limit = 100 } = {},
): Promise<SourceCollisions> {
  const first = new Map<string, string>();
  const pairs: Array<[string, string]> = [];
  for await (const { key, size } of sourceListing) {
    if (!inScope(key, size)) continue;
    const folded = foldedName(key);
    const earlier = first.get(folded);
    if (earlier !== undefined) {
      pairs.push([earlier, key]);
      if (pairs.length >= limit) break;
    } else if (first.size >= maxKeys) return { pairs, tooMany: true };
    else first.set(folded, key);
  }
  return { pairs, tooMany: false };
}

/** The verdict on the check, for a destination described as `destination`. */
export function judgeSourceCollisions(found: SourceCollisions, destination: string): DeleteVerdict {
  if (found.tooMany)
    return {
      allowed: false,
      reason: 'SourceNameCollision',
      message:
        `${destination} folds names (case or Unicode normalisation), and the source has more than ${maxFoldCheckedKeys} ` +
        'keys in scope, more than Ferry checks for keys that would land on one file; split the job with filters; nothing was copied or deleted',
    };
  if (found.pairs.length === 0) return { allowed: true };
  const shown = found.pairs.slice(0, 10).map(([a, b]) => `${JSON.stringify(a)} and ${JSON.stringify(b)}`);
  const more =
    found.pairs.length > shown.length ? ` and ${found.pairs.length - shown.length} more pairs` : '';
  return {
    allowed: false,
    reason: 'SourceNameCollision',
    message:
      `${destination} folds names (case or Unicode normalisation), so these source keys would be one file there, ` +
      `one overwriting the other: ${shown.join('; ')}${more}; exclude or rename one of each; nothing was copied or deleted`,
  };
}
