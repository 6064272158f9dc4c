// The SHA-256 of objects' content, read from the store: what a store that
// records no checksums (the filesystem) gives the planner when it must decide
// whether two objects are equal. A few objects at a time, order kept.
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { ObjectNotFoundError, type ObjectInfo, type ObjectStore } from '../../storage/objectStore.ts';

/**
 * `object` with the SHA-256 of its content, or undefined when it no longer
 * exists. The size is the one read, which the checksum belongs to, should
 * the object have changed since it was listed.
 */
export async function hashObject(store: ObjectStore, object: ObjectInfo): Promise<ObjectInfo | undefined> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    await pipeline(await store.read(object.key), async (chunks: AsyncIterable<Buffer>) => {
      for await (const chunk of chunks) {
        hash.update(chunk);
        size += chunk.length;
      }
    });
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined;
    throw err;
  }
  return { ...object, size, checksum: { algorithm: 'SHA256', value: hash.digest('hex') } };
}

/** Each object hashed (`concurrency` at a time), in the given order; those gone are left out. */
export function hashObjects(
  store: ObjectStore,
  objects: readonly ObjectInfo[],
  concurrency = 4,
): Promise<ObjectInfo[]> {
  return mapInOrder(objects, concurrency, (object) => hashObject(store, object));
}

/**
 * The objects under `keys` with their SHA-256 (the one the store recorded, or
 * else of their content), in the given order; keys that do not exist are left out.
 */
export function checksumsOf(
  store: ObjectStore,
  keys: readonly string[],
  concurrency = 4,
): Promise<ObjectInfo[]> {
  return mapInOrder(keys, concurrency, async (key) => {
    const info = await store.stat(key);
    if (!info || info.checksum) return info;
    return hashObject(store, info);
  });
}

async function mapInOrder<T>(
  items: readonly T[],
  concurrency: number,
  map: (item: T) => Promise<ObjectInfo | undefined>,
): Promise<ObjectInfo[]> {
  const results: Array<ObjectInfo | undefined> = new Array(items.length);
  let next = 0;
  const work = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await map(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, work));
  return results.filter((o): o is ObjectInfo => o !== undefined);
}
