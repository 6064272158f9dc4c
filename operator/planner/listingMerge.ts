// A streamed merge of the source and destination listings, both sorted by
// UTF-8 bytes: each key is decided once both listings have passed it, so memory
// stays constant. A listing out of order would read as missing objects (and
// Sync deletes), so order is checked and a violation fails the plan (ADR 0004).
import type { ObjectInfo } from '../../storage/objectStore.ts';

export type KeyDecision =
  /** In the source only, or different at the destination: copy it. */
  | {
      kind: 'copy';
      source: ObjectInfo;
      destination?: ObjectInfo;
      reason: 'missing' | 'size' | 'checksum' | 'unverifiable';
    }
  /** In the destination only: a delete candidate (acted on only in Sync mode). */
  | { kind: 'extra'; destination: ObjectInfo }
  /** Present on both sides with the same content. */
  | { kind: 'same'; source: ObjectInfo; destination: ObjectInfo };

export class ListingOrderError extends Error {
  constructor(side: 'source' | 'destination', previous: string, next: string) {
    super(
      `the ${side} listing is not in UTF-8 byte order (${JSON.stringify(previous)} came before ${JSON.stringify(next)}); ` +
        'refusing to plan from it, since a mis-ordered listing would look like missing objects',
    );
  }
}

/**
 * Whether the destination already holds the source's content. Size first; then
 * the SHA-256 both sides recorded; an S3 ETag is compared only when it is a
 * plain MD5 (single-part upload) on both sides. Without any comparable
 * fingerprint the object is copied again: never skip what cannot be proven equal.
 */
export function compareObjects(source: ObjectInfo, destination: ObjectInfo): KeyDecision {
  if (source.size !== destination.size) return { kind: 'copy', source, destination, reason: 'size' };
  if (source.checksum && destination.checksum) {
    return source.checksum.value === destination.checksum.value
      ? { kind: 'same', source, destination }
      : { kind: 'copy', source, destination, reason: 'checksum' };
  }
  const plainMd5 = (etag?: string) => etag !== undefined && /^[0-9a-f]{32}$/i.test(etag);
  if (plainMd5(source.etag) && plainMd5(destination.etag)) {
    return source.etag!.toLowerCase() === destination.etag!.toLowerCase()
      ? { kind: 'same', source, destination }
      : { kind: 'copy', source, destination, reason: 'checksum' };
  }
  return { kind: 'copy', source, destination, reason: 'unverifiable' };
}

async function* checkedOrder(
  side: 'source' | 'destination',
  listing: AsyncIterable<ObjectInfo>,
): AsyncGenerator<ObjectInfo> {
  let previous: Buffer | undefined;
  let previousKey = '';
  for await (const object of listing) {
    const key = Buffer.from(object.key, 'utf8');
    if (previous && Buffer.compare(previous, key) >= 0)
      throw new ListingOrderError(side, previousKey, object.key);
    previous = key;
    previousKey = object.key;
    yield object;
  }
}

/** Merges two sorted listings into one decision per key, in key order. */
export async function* mergeListings(
  sourceListing: AsyncIterable<ObjectInfo>,
  destinationListing: AsyncIterable<ObjectInfo>,
): AsyncGenerator<KeyDecision> {
  const source = checkedOrder('source', sourceListing)[Symbol.asyncIterator]();
  const destination = checkedOrder('destination', destinationListing)[Symbol.asyncIterator]();
  let s = await source.next();
  let d = await destination.next();
  while (!s.done || !d.done) {
    const order = s.done
      ? 1
      : d.done
        ? -1
        : Buffer.compare(Buffer.from(s.value.key), Buffer.from(d.value.key));
    if (order < 0) {
      yield { kind: 'copy', source: s.value as ObjectInfo, reason: 'missing' };
      s = await source.next();
    } else if (order > 0) {
      yield { kind: 'extra', destination: d.value as ObjectInfo };
      d = await destination.next();
    } else {
      yield compareObjects(s.value as ObjectInfo, d.value as ObjectInfo);
      s = await source.next();
      d = await destination.next();
    }
  }
}
