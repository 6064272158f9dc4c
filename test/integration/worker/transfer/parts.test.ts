// A large object copied as parts over real HTTP, between real stores, with the
// upload registry in the bed's NATS KV: parts may go through different
// destination workers and in any order; the object appears only once every
// part is stored, exactly once, byte-identical; a part delivered again later
// changes nothing; a source that changed between parts is never assembled.
import { randomBytes, randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { PlannedObject } from '../../../../api/tasks.ts';
import { runCopyPartTask, type CopyPartTask } from '../../../../worker/transfer/copyPartTask.ts';
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

function partsOf(object: PlannedObject, size = partSize): CopyPartTask[] {
  const count = Math.ceil(object.size / size);
  return Array.from({ length: count }, (_, i) => ({
    kind: 'copyPart',
    id: `${object.key}#${i + 1}`,
    object,
    partNumber: i + 1,
    partCount: count,
    start: i * size,
    end: Math.min((i + 1) * size, object.size) - 1,
  }));
}

describe.each(setups)('a large object copied in parts, %s', (_name, setup) => {
  let pair: Pair;
  let nc: NatsConnection;
  // Two destination workers of one job, sharing the job's upload registry.
  let workers: Destination[];

  beforeAll(async () => {
    pair = await setup();
    nc = await connect({ servers: bedEndpoints().natsUrl });
    const registry = await UploadRegistry.open(nc, randomUUID());
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

  const committed = () => workers.flatMap((w) => w.committed);

  async function sourceObject(key: string, data: Buffer, withChecksum: boolean): Promise<PlannedObject> {
    await pair.source.write(key, chunked(data), { size: data.length });
    return { key, size: data.length, ...(withChecksum ? { sha256: sha256(data) } : {}) };
  }

  it('assembles the object only when every part is stored, whatever the order and the worker', async () => {
    const data = randomBytes(12 * MiB + 123); // parts of 5, 5 and 2 MiB (+123 bytes)
    const object = await sourceObject('large/video ü %.bin', data, true);
    const [p1, p2, p3] = partsOf(object);
    const before = committed().length;

    const third = await runCopyPartTask(p3!, pair.source, workers[0]!.target);
    expect(third).toMatchObject({ state: 'SUCCEEDED', objectCompleted: false, objectsDone: 0 });
    const first = await runCopyPartTask(p1!, pair.source, workers[1]!.target);
    expect(first).toMatchObject({ state: 'SUCCEEDED', objectCompleted: false, objectsDone: 0 });
    // Two of three parts stored: nothing visible under the key yet.
    expect(await pair.destination.stat(object.key)).toBeUndefined();
    const second = await runCopyPartTask(p2!, pair.source, workers[0]!.target);
    // The task that completed the object is the one that counts it.
    expect(second).toMatchObject({
      state: 'SUCCEEDED',
      objectCompleted: true,
      objectsDone: 1,
      bytesDone: partSize,
    });

    expect((await pair.destination.stat(object.key))?.size).toBe(data.length);
    expect(await readSha256(pair.destination, object.key)).toBe(sha256(data));
    expect(committed().slice(before)).toEqual([object.key]);

    // A part delivered again after completion (its status was lost, say): nothing changes.
    const again = await runCopyPartTask(p1!, pair.source, workers[1]!.target);
    expect(again).toMatchObject({ state: 'SUCCEEDED', objectCompleted: true, objectsDone: 0 });
    // The completing task delivered again still counts it (its first status may never have arrived).
    const winnerAgain = await runCopyPartTask(p2!, pair.source, workers[1]!.target);
    expect(winnerAgain).toMatchObject({ state: 'SUCCEEDED', objectCompleted: true, objectsDone: 1 });
    expect(await readSha256(pair.destination, object.key)).toBe(sha256(data));
    expect(committed().slice(before)).toEqual([object.key]);
  });

  it('completes once when every part arrives at the same time through both workers', async () => {
    const data = randomBytes(20 * MiB + 3);
    const object = await sourceObject('large/raced.bin', data, true);
    const before = committed().length;
    const outcomes = await Promise.all(
      partsOf(object).map((part, i) => runCopyPartTask(part, pair.source, workers[i % 2]!.target)),
    );
    expect(outcomes.map((o) => o.state)).toEqual(Array(5).fill('SUCCEEDED'));
    expect(outcomes.reduce((n, o) => n + o.objectsDone, 0)).toBe(1);
    expect(await readSha256(pair.destination, object.key)).toBe(sha256(data));
    expect(committed().slice(before)).toEqual([object.key]);
  });

  it('re-sends only a missing part after a failure, and then completes', async () => {
    const data = randomBytes(10 * MiB + 1);
    const object = await sourceObject('large/resumed.bin', data, false);
    const [p1, p2, p3] = partsOf(object);
    // Parts 1 and 3 arrive; part 2's first attempt is refused (a wrong token: nothing stored).
    expect((await runCopyPartTask(p1!, pair.source, workers[0]!.target)).state).toBe('SUCCEEDED');
    const refused = await runCopyPartTask(p2!, pair.source, { ...workers[1]!.target, token: 'wrong' });
    expect(refused).toMatchObject({ state: 'FAILED', error: { kind: 'permanent', keys: [object.key] } });
    expect((await runCopyPartTask(p3!, pair.source, workers[1]!.target)).objectCompleted).toBe(false);
    expect(await pair.destination.stat(object.key)).toBeUndefined();
    // The retry of part 2 alone completes the object.
    const retried = await runCopyPartTask(p2!, pair.source, workers[0]!.target);
    expect(retried).toMatchObject({ state: 'SUCCEEDED', objectCompleted: true });
    expect(await readSha256(pair.destination, object.key)).toBe(sha256(data));
  });

  it('never assembles an object whose source changed between parts', async () => {
    const original = randomBytes(10 * MiB + 7);
    const object = await sourceObject('large/changing.bin', original, false);
    const [p1, p2, p3] = partsOf(object);
    expect((await runCopyPartTask(p1!, pair.source, workers[0]!.target)).state).toBe('SUCCEEDED');
    // The source object is replaced by a longer one before the other parts are read.
    await pair.source.write(object.key, chunked(randomBytes(11 * MiB)), { size: 11 * MiB });
    const changed = await runCopyPartTask(p2!, pair.source, workers[1]!.target);
    expect(changed).toMatchObject({
      state: 'FAILED',
      error: {
        kind: 'retryable',
        keys: [object.key],
        message: expect.stringContaining('changed since planning'),
      },
    });
    expect((await runCopyPartTask(p3!, pair.source, workers[0]!.target)).state).toBe('FAILED');
    expect(await pair.destination.stat(object.key)).toBeUndefined();
  });
});
