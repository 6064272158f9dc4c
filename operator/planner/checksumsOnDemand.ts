// Checksums on demand: a filesystem store records none, and hashing a whole
// tree at every plan would read every byte. So the planner asks for the
// checksum only of an object it cannot decide on otherwise (same key and size
// on both sides, no comparable fingerprint); one it cannot get stays a copy.
// Decisions keep their order, at most `window` held back. See ADRs 0005 and 0026.
import type { ObjectInfo } from '../../storage/objectStore.ts';
import { compareObjects, type KeyDecision } from './listingMerge.ts';

/** A side whose objects' checksums can be asked for (a worker listing). */
export interface ChecksumsOnRequest {
  /** The objects with their checksum, by key; absent: the object no longer exists. */
  checksumsOf(objects: readonly ObjectInfo[]): Promise<Map<string, ObjectInfo>>;
}

export interface Sides {
  source?: ChecksumsOnRequest;
  destination?: ChecksumsOnRequest;
}

type Undecided = Extract<KeyDecision, { kind: 'copy' }> & { destination: ObjectInfo };

/** Whether asking for checksums can settle `decision`: each side lacking one can be asked. */
function undecided(decision: KeyDecision, sides: Sides): decision is Undecided {
  if (decision.kind !== 'copy' || decision.reason !== 'unverifiable' || !decision.destination) return false;
  const { source, destination } = decision;
  if (source.checksum && destination.checksum) return false;
  return (
    (source.checksum !== undefined || sides.source !== undefined) &&
    (destination.checksum !== undefined || sides.destination !== undefined)
  );
}

async function settle(held: KeyDecision[], sides: Sides): Promise<KeyDecision[]> {
  const open = held.filter((d): d is Undecided => undecided(d, sides));
  const ask = async (side: ChecksumsOnRequest | undefined, objects: ObjectInfo[]) =>
    side && objects.length > 0 ? side.checksumsOf(objects) : new Map<string, ObjectInfo>();
  const [sourceSums, destinationSums] = await Promise.all([
    ask(
      sides.source,
      open.filter((d) => !d.source.checksum).map((d) => d.source),
    ),
    ask(
      sides.destination,
      open.filter((d) => !d.destination.checksum).map((d) => d.destination),
    ),
  ]);
  return held.map((decision) => {
    if (!undecided(decision, sides)) return decision;
    const source = decision.source.checksum ? decision.source : sourceSums.get(decision.source.key);
    const destination = decision.destination.checksum
      ? decision.destination
      : destinationSums.get(decision.destination.key);
    // Gone since it was listed: leave the copy as it was decided.
    if (!source?.checksum || !destination?.checksum) return decision;
    return compareObjects(source, destination);
  });
}

/** `decisions`, with those that checksums can settle settled by asking the sides for them. */
export async function* settleWithChecksums(
  decisions: AsyncIterable<KeyDecision>,
  sides: Sides,
  window = 1000,
): AsyncGenerator<KeyDecision> {
  if (!sides.source && !sides.destination) {
    yield* decisions;
    return;
  }
  let held: KeyDecision[] = [];
  for await (const decision of decisions) {
    if (held.length === 0 && !undecided(decision, sides)) {
      yield decision;
      continue;
    }
    held.push(decision);
    if (held.length >= window) {
      yield* await settle(held, sides);
      held = [];
    }
  }
  yield* await settle(held, sides);
}
