// Checksums on demand for a store the operator lists itself (S3): a listing
// carries no user metadata, so the SHA-256 Ferry records on an object costs a
// HEAD, asked only for the objects the planner cannot decide on otherwise, as
// for a worker-listed side (checksumsOnDemand.ts, ADRs 0005, 0026).
import type { ObjectInfo, ObjectStore } from '../../storage/objectStore.ts';
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
