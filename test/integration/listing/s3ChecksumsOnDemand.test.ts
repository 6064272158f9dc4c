// Planning between two buckets of the bed's S3 asks for an object's recorded
// SHA-256 (a HEAD) only when nothing cheaper decides: a first copy into an
// empty bucket costs no HEAD at all, plain-MD5 ETags decide equal and changed
// objects, and only objects whose ETags cannot be compared (multipart) are
// HEADed — and then skipped when their SHA-256s match.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { mergeStoreListings, type StoreListing } from '../../../operator/planner/storeListing.ts';
import type { ObjectStore } from '../../../storage/objectStore.ts';
import { s3Store, sha256 } from '../worker/transfer/harness.ts';

const MiB = 1024 * 1024;

/** The store as the planner sees it, counting the HEADs it makes. */
function counted(store: ObjectStore): { side: StoreListing; heads: () => number } {
  let heads = 0;
  const side = {
    description: store.description,
    list: store.list.bind(store),
    close: () => store.close(),
    stat: (key: string) => {
      heads++;
      return store.stat(key);
    },
  };
  return { side, heads: () => heads };
}

async function decisions(source: ObjectStore, destination: ObjectStore) {
  const s = counted(source);
  const d = counted(destination);
  const out: string[] = [];
  for await (const decision of mergeStoreListings(s.side, d.side)) {
    const key = decision.kind === 'extra' ? decision.destination.key : decision.source.key;
    out.push(`${decision.kind}:${key}${decision.kind === 'copy' ? `:${decision.reason}` : ''}`);
  }
  return { out, heads: s.heads() + d.heads() };
}

const put = (store: ObjectStore, key: string, data: Buffer, withSha = true) =>
  store.write(key, Readable.from([data]), {
    size: data.length,
    ...(withSha ? { sha256: sha256(data) } : {}),
  });

async function putInParts(store: ObjectStore, key: string, data: Buffer) {
  const uploadId = await store.createMultipart(key, { sha256: sha256(data) });
  const parts = [];
  for (let start = 0, n = 1; start < data.length; start += 5 * MiB, n++) {
    const part = data.subarray(start, start + 5 * MiB);
    parts.push(await store.writePart(key, uploadId, n, Readable.from([part]), part.length));
  }
  await store.completeMultipart(key, uploadId, parts);
}

describe('planning between two S3 buckets', () => {
  let source: ObjectStore;
  let destination: ObjectStore;

  beforeEach(async () => {
    source = await s3Store();
    destination = await s3Store();
  });
  afterEach(async () => {
    await source?.close();
    await destination?.close();
  });

  it('makes no HEAD for a first copy into an empty bucket', async () => {
    for (let i = 0; i < 30; i++) await put(source, `first/${String(i).padStart(2, '0')}`, randomBytes(100));
    const { out, heads } = await decisions(source, destination);
    expect(out).toHaveLength(30);
    expect(out.every((d) => d.endsWith(':missing'))).toBe(true);
    expect(heads).toBe(0);
  });

  it('HEADs only what ETags cannot decide, and skips those whose SHA-256s match', async () => {
    const same = randomBytes(1000);
    const big = randomBytes(6 * MiB);
    await put(source, 'equal.txt', same);
    await put(destination, 'equal.txt', same);
    await put(source, 'changed.txt', randomBytes(1000));
    await put(destination, 'changed.txt', randomBytes(1000));
    await put(source, 'parts.bin', big);
    await putInParts(destination, 'parts.bin', big); // ETag "…-2": not an MD5
    await put(source, 'new.txt', randomBytes(10));

    const { out, heads } = await decisions(source, destination);
    expect(out).toEqual([
      'copy:changed.txt:checksum',
      'same:equal.txt',
      'copy:new.txt:missing',
      'same:parts.bin',
    ]);
    expect(heads).toBe(2); // parts.bin, once on each side
  });
});
