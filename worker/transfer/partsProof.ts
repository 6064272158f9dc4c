// What a large object's parts prove about the object they make, for the one
// case the destination cannot otherwise judge (docs/adr/0033): the multipart
// upload is gone and its record never said "completed". A worker may have
// completed it and died before recording that — or the upload was removed and
// something else of the same size now sits under the key. Only the bytes can
// tell: the object is read in the parts' ranges and each range's SHA-256
// compared, through one digest over them all, with what the parts had.
import { createHash } from 'node:crypto';
import type { UploadRecord } from '../../api/uploads.ts';
import type { ObjectStore, PartInfo } from '../../storage/objectStore.ts';

/** The SHA-256 (hex) over the parts' SHA-256s, in part order. */
export function partsSha256(digests: string[]): string {
  const hash = createHash('sha256');
  for (const digest of digests) hash.update(Buffer.from(digest, 'hex'));
  return hash.digest('hex');
}

/** The record's `completing` for the parts about to be completed; undefined when a part's SHA-256 is unknown. */
export function completionProof(parts: PartInfo[]): UploadRecord['completing'] {
  if (parts.length === 0 || parts.some((p) => p.sha256 === undefined)) return undefined;
  return { partSize: parts[0]!.size, partsSha256: partsSha256(parts.map((p) => p.sha256!)) };
}

async function rangeSha256(store: ObjectStore, key: string, start: number, end: number): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await store.read(key, { start, end })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Why the object under the record's key is not the one its parts make, or
 * undefined when it is: same size, and its bytes, range by range, hash to the
 * parts' SHA-256s recorded before the upload was completed.
 */
export async function notMadeOfItsParts(
  store: ObjectStore,
  record: UploadRecord,
): Promise<string | undefined> {
  const { key, size, completing } = record;
  if (!completing)
    return 'no worker had begun completing it, so the object under its key cannot be one it made';
  const info = await store.stat(key);
  if (!info) return 'no object is under its key';
  if (info.size !== size) return `the object under its key has ${info.size} bytes, not ${size}`;
  const digests: string[] = [];
  for (let start = 0; start < size; start += completing.partSize)
    digests.push(await rangeSha256(store, key, start, Math.min(start + completing.partSize, size) - 1));
  if (partsSha256(digests) !== completing.partsSha256)
    return `the ${size}-byte object under its key is not the one its parts make (their SHA-256s differ)`;
  return undefined;
}
