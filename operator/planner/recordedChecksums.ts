// Checksums on demand for a store the operator lists itself (S3). A listing
// (ListObjectsV2) carries no user metadata, so the SHA-256 Ferry records on
// each object (`ferry-sha256`, or S3's own full-object checksum) costs one
// HEAD per object. Asking for it at every object would make planning a
// hundred million objects a hundred million HEADs, most of them for objects
// the other side does not even have; so, as for a worker-listed side
// (checksumsOnDemand.ts), it is asked only for the objects whose equality the
// planner cannot decide otherwise.
import type { ObjectInfo, ObjectStore } from '../../worker/storage/objectStore.ts';
import type { ChecksumsOnRequest } from './checksumsOnDemand.ts';

export class RecordedChecksums implements ChecksumsOnRequest {
  private readonly store: Pick<ObjectStore, 'stat'>;
  private readonly concurrency: number;

  constructor(store: Pick<ObjectStore, 'stat'>, concurrency = 16) {
    this.store = store;
    this.concurrency = concurrency;
  }

  async checksumsOf(objects: readonly ObjectInfo[]): Promise<Map<string, ObjectInfo>> {
    const found = new Map<string, ObjectInfo>();
    let next = 0;
    const worker = async () => {
      while (next < objects.length) {
        const { key } = objects[next++]!;
        const info = await this.store.stat(key);
        if (info) found.set(key, info);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, objects.length) }, worker));
    return found;
  }
}
