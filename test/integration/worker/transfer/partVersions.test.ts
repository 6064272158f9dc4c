// A large object's parts are all of one source version (docs/adr/0033), over
// real HTTP between real stores (the bed's S3, a directory), with the upload
// registry in the bed's NATS KV: a same-size rewrite of the source between
// two parts is never assembled into a mix, and the part that finds the new
// version copies it whole; an upload that vanished is accepted as completed
// only when the object under its key is the one its parts make.
import { randomBytes, randomUUID } from 'node:crypto';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { PlannedObject } from '../../../../api/tasks.ts';
import { FilesystemStore } from '../../../../storage/index.ts';
import { runCopyPartTask, type CopyPartTask } from '../../../../worker/transfer/copyPartTask.ts';
import { completeParts, sendPart } from '../../../../worker/transfer/destinationClient.ts';
import { completionProof } from '../../../../worker/transfer/partsProof.ts';
import { UploadRegistry } from '../../../../worker/transfer/uploadRegistry.ts';
import { bedEndpoints } from '../../../support/bed.ts';
import {
  chunked,
  MiB,
  readSha256,
  setups,
  sha256,
  startDestination,
  type Destination,
  type Pair,
} from './harness.ts';

const partSize = 5 * MiB; // S3's smallest part but the last

function partsOf(object: PlannedObject): CopyPartTask[] {
  const count = Math.ceil(object.size / partSize);
  return Array.from({ length: count }, (_, i) => ({
    kind: 'copyPart',
    id: `${object.key}#${i + 1}`,
    object,
    partNumber: i + 1,
    partCount: count,
    start: i * partSize,
    end: Math.min((i + 1) * partSize, object.size) - 1,
  }));
}

/** The bytes of `first` up to `at`, then those of `second`: what mixing two versions at a part boundary makes. */
function mixed(first: Buffer, second: Buffer, at: number): Buffer {
  return Buffer.concat([first.subarray(0, at), second.subarray(at)]);
}

describe.each(setups)('the parts of a large object are of one source version, %s', (_name, setup) => {
  let pair: Pair;
  let nc: NatsConnection;
  let registry: UploadRegistry;
  let workers: Destination[];

  beforeAll(async () => {
    pair = await setup();
    nc = await connect({ servers: bedEndpoints().natsUrl });
    registry = await UploadRegistry.open(nc, randomUUID());
    workers = [
      await startDestination(pair.destination, registry),
      await startDestination(pair.destination, registry),
    ];
  });
  afterAll(async () => {
    for (const w of workers ?? []) await w.close();
    await nc?.close();
    await pair?.cleanup();
  });

  /** Writes `data` at the source and plans it as the planner does: with the version the listing saw. */
  async function planned(key: string, data: Buffer): Promise<PlannedObject> {
    await pair.source.write(key, chunked(data), { size: data.length });
    const info = await pair.source.stat(key);
    expect(info?.version).toEqual(expect.any(String));
    return { key, size: data.length, version: info!.version! };
  }

  it('a same-size rewrite between parts is never assembled: the part that finds it copies the new version whole', async () => {
    const original = randomBytes(10 * MiB + 7);
    const object = await planned('large/rewritten.bin', original);
    const [p1, p2, p3] = partsOf(object);
    expect((await runCopyPartTask(p1!, pair.source, workers[0]!.target)).state).toBe('SUCCEEDED');

    // Rewritten with other bytes of the same size before parts 2 and 3 are read.
    const rewritten = randomBytes(original.length);
    await pair.source.write(object.key, chunked(rewritten), { size: rewritten.length });

    const second = await runCopyPartTask(p2!, pair.source, workers[1]!.target);
    const third = await runCopyPartTask(p3!, pair.source, workers[0]!.target);
    expect([second.state, third.state]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    // The object counts once, and it is the new version, whole — not parts of each.
    expect(second.objectsDone + third.objectsDone).toBe(1);
    const stored = await readSha256(pair.destination, object.key);
    expect(stored).not.toBe(sha256(mixed(original, rewritten, partSize)));
    expect(stored).toBe(sha256(rewritten));
  });

  it('a part delivered again with the old version does not undo the new one', async () => {
    const original = randomBytes(10 * MiB + 1);
    const object = await planned('large/redelivered.bin', original);
    const [p1, p2, p3] = partsOf(object);
    expect((await runCopyPartTask(p3!, pair.source, workers[0]!.target)).state).toBe('SUCCEEDED');
    const rewritten = randomBytes(original.length);
    await pair.source.write(object.key, chunked(rewritten), { size: rewritten.length });
    // Part 1 finds the new version and copies all three parts of it.
    const first = await runCopyPartTask(p1!, pair.source, workers[1]!.target);
    expect(first).toMatchObject({ state: 'SUCCEEDED', objectCompleted: true, objectsDone: 1 });
    const late = await runCopyPartTask(p2!, pair.source, workers[0]!.target);
    expect(late).toMatchObject({ state: 'SUCCEEDED', objectCompleted: true, objectsDone: 0 });
    expect(await readSha256(pair.destination, object.key)).toBe(sha256(rewritten));
  });

  it('a vanished upload is not completed by a same-size object that is not its parts', async () => {
    const data = randomBytes(5 * MiB + 3);
    const object = await planned('large/vanished.bin', data);
    const [p1, p2] = partsOf(object);
    expect((await runCopyPartTask(p1!, pair.source, workers[0]!.target)).state).toBe('SUCCEEDED');
    // The upload is removed behind Ferry's back, and another object of the same size written under the key.
    const record = await registry.find(object.key);
    await pair.destination.abortMultipart(object.key, record!.uploadId);
    const foreign = randomBytes(data.length);
    await pair.destination.write(object.key, chunked(foreign), { size: foreign.length });

    const address = { key: object.key, partNumber: 2, partCount: 2, objectSize: object.size };
    await expect(completeParts(workers[1]!.target, address)).rejects.toMatchObject({
      kind: 'permanent',
      code: 'UploadDiscarded',
      message: expect.stringContaining('disappeared'),
    });
    expect((await registry.find(object.key))?.state).toBe('discarded');
    expect(await runCopyPartTask(p2!, pair.source, workers[1]!.target)).toMatchObject({
      state: 'FAILED',
      error: { kind: 'permanent' },
    });
    expect(await readSha256(pair.destination, object.key)).toBe(sha256(foreign));
  });

  it('a vanished upload that a worker completed before dying is accepted: its bytes are its parts', async () => {
    const data = randomBytes(5 * MiB + 5);
    const object = await planned('large/completed-then-died.bin', data);
    const [p1, p2] = partsOf(object);
    expect((await runCopyPartTask(p1!, pair.source, workers[0]!.target)).state).toBe('SUCCEEDED');
    const tail = data.subarray(partSize);
    const address = { key: object.key, partNumber: 2, partCount: 2, objectSize: object.size };
    await sendPart(workers[1]!.target, address, chunked(tail), tail.length, () => sha256(tail));
    // A worker records what the parts prove, completes the upload, and dies before recording that.
    const record = (await registry.find(object.key))!;
    const parts = await pair.destination.listParts(object.key, record.uploadId);
    await registry.annotate(object.key, record.uploadId, { completing: completionProof(parts)! });
    await pair.destination.completeMultipart(object.key, record.uploadId, parts);

    const answer = await completeParts(workers[0]!.target, address);
    expect(answer).toMatchObject({ completed: true, completedBy: 2 });
    expect(await runCopyPartTask(p2!, pair.source, workers[0]!.target)).toMatchObject({
      state: 'SUCCEEDED',
      objectsDone: 1,
    });
    expect(await readSha256(pair.destination, object.key)).toBe(sha256(data));
  });
});

describe('a filesystem source written in place between parts (same file, same size)', () => {
  it('is copied whole in its new content', async () => {
    const [, setup] = setups[0]!; // filesystem → S3
    const pair = await setup();
    const nc = await connect({ servers: bedEndpoints().natsUrl });
    const worker = await startDestination(pair.destination, await UploadRegistry.open(nc, randomUUID()));
    try {
      const original = randomBytes(10 * MiB + 9);
      const key = 'in-place.bin';
      await pair.source.write(key, chunked(original), { size: original.length });
      const object: PlannedObject = {
        key,
        size: original.length,
        version: (await pair.source.stat(key))!.version!,
      };
      const [p1, p2, p3] = partsOf(object);
      expect((await runCopyPartTask(p1!, pair.source, worker.target)).state).toBe('SUCCEEDED');

      // The same file (same inode) gets other bytes in its first part, already copied: only its mtime and ctime move.
      await new Promise((resolve) => setTimeout(resolve, 20));
      const patch = randomBytes(1024);
      const file = await open(path.join((pair.source as FilesystemStore).root, key), 'r+');
      await file.write(patch, 0, patch.length, 100);
      await file.close();
      const rewritten = Buffer.from(original);
      patch.copy(rewritten, 100);

      const outcomes = [
        await runCopyPartTask(p2!, pair.source, worker.target),
        await runCopyPartTask(p3!, pair.source, worker.target),
      ];
      expect(outcomes.map((o) => o.state)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
      expect(await readSha256(pair.destination, key)).toBe(sha256(rewritten));
    } finally {
      await worker.close();
      await nc.close();
      await pair.cleanup();
    }
  });
});
