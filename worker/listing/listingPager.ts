// Cuts a store's listing into pages for the operator (api/listing.ts). A page
// is built in full before it is returned, so a failure anywhere in it fails
// the request instead of ending the listing early. With checksums asked for
// and a store that records none (the filesystem), each object's content is
// hashed here, a few objects at a time, order kept.
//
// The walk behind a page that was not the last is kept for a short while under
// (prefix, checksums, last key), so the next page continues it instead of
// walking the tree again from the key; any other request starts a fresh walk
// from its startAfter. Memory: one page, plus a few parked walks.
import {
  maxListingPageHashBytes,
  maxListingPageObjects,
  type ListedObject,
  type ListingPage,
} from '../../api/listing.ts';
import type { ObjectInfo, ObjectStore } from '../../storage/objectStore.ts';
import { hashObjects } from './objectHashing.ts';

export interface PageRequest {
  prefix: string;
  startAfter?: string;
  /** 1 … maxListingPageObjects. */
  limit: number;
  checksums: boolean;
}

interface ParkedWalk {
  objects: AsyncIterator<ObjectInfo>;
  /** The object read past the end of the previous page, which opens the next one. */
  next: ObjectInfo;
  timer: NodeJS.Timeout;
}

export interface ListingPagerOptions {
  /** How many walks may wait for their next page (oldest closed first). */
  maxParked?: number;
  /** How long a walk waits for its next page. */
  parkedMs?: number;
  /** Files hashed at the same time. */
  hashConcurrency?: number;
}

export class ListingPager {
  private readonly store: ObjectStore;
  private readonly parked = new Map<string, ParkedWalk>();
  private readonly maxParked: number;
  private readonly parkedMs: number;
  private readonly hashConcurrency: number;

  constructor(store: ObjectStore, options: ListingPagerOptions = {}) {
    this.store = store;
    this.maxParked = options.maxParked ?? 4;
    this.parkedMs = options.parkedMs ?? 60_000;
    this.hashConcurrency = options.hashConcurrency ?? 4;
  }

  /** The page after `startAfter`; throws the store's error when any part of it fails. */
  async page(request: PageRequest): Promise<ListingPage> {
    const limit = Math.min(Math.max(1, Math.floor(request.limit)), maxListingPageObjects);
    const hashing = request.checksums && !this.store.recordsChecksums;
    const walk = this.unpark(request);
    const listing = () =>
      this.store.list(request.prefix, request.startAfter, { checksums: request.checksums });
    const objects = walk?.objects ?? listing()[Symbol.asyncIterator]();
    try {
      let next: IteratorResult<ObjectInfo> = walk ? { done: false, value: walk.next } : await objects.next();
      for (;;) {
        const listed: ObjectInfo[] = [];
        let bytes = 0;
        while (!next.done && listed.length < limit && (!hashing || bytes < maxListingPageHashBytes)) {
          listed.push(next.value);
          bytes += next.value.size;
          next = await objects.next();
        }
        const described = hashing ? await hashObjects(this.store, listed, this.hashConcurrency) : listed;
        // A page whose objects were all deleted while hashing says nothing: go on.
        if (described.length === 0 && !next.done) continue;
        if (!next.done) this.park(request, described.at(-1)!.key, objects, next.value);
        return { objects: described.map(toListed), complete: next.done === true };
      }
    } catch (err) {
      await objects.return?.().catch(() => undefined);
      throw err;
    }
  }

  /** Closes the parked walks. */
  async close(): Promise<void> {
    const walks = [...this.parked.values()];
    this.parked.clear();
    for (const walk of walks) {
      clearTimeout(walk.timer);
      await walk.objects.return?.().catch(() => undefined);
    }
  }

  private unpark(request: PageRequest): ParkedWalk | undefined {
    if (request.startAfter === undefined) return undefined;
    const id = walkId(request.prefix, request.checksums, request.startAfter);
    const walk = this.parked.get(id);
    if (!walk) return undefined;
    this.parked.delete(id);
    clearTimeout(walk.timer);
    return walk;
  }

  private park(request: PageRequest, lastKey: string, objects: AsyncIterator<ObjectInfo>, next: ObjectInfo) {
    const id = walkId(request.prefix, request.checksums, lastKey);
    const close = () => {
      if (this.parked.get(id)?.objects === objects) this.parked.delete(id);
      void objects.return?.().catch(() => undefined);
    };
    const timer = setTimeout(close, this.parkedMs);
    timer.unref();
    this.parked.set(id, { objects, next, timer });
    while (this.parked.size > this.maxParked) {
      const [oldest, walk] = this.parked.entries().next().value!;
      this.parked.delete(oldest);
      clearTimeout(walk.timer);
      void walk.objects.return?.().catch(() => undefined);
    }
  }
}

function walkId(prefix: string, checksums: boolean, lastKey: string): string {
  return JSON.stringify([prefix, checksums, lastKey]);
}

/** An object as the listing contract carries it. */
export function toListed(object: ObjectInfo): ListedObject {
  return {
    key: object.key,
    size: object.size,
    lastModified: object.lastModified.toISOString(),
    ...(object.checksum ? { sha256: object.checksum.value } : {}),
    ...(object.etag ? { etag: object.etag } : {}),
    ...(object.version ? { version: object.version } : {}),
  };
}
