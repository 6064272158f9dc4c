// The planner asks a worker-listed side for checksums only where a decision needs them.
import {
  settleWithChecksums,
  type ChecksumsOnRequest,
} from '../../../../operator/planner/checksumsOnDemand.ts';
import { mergeListings, type KeyDecision } from '../../../../operator/planner/listingMerge.ts';
import type { ObjectInfo } from '../../../../storage/objectStore.ts';

const when = new Date('2026-01-01T00:00:00Z');
const sum = (value: string) => ({ algorithm: 'SHA256' as const, value: value.repeat(64).slice(0, 64) });
const object = (key: string, size: number, checksum?: string): ObjectInfo => ({
  key,
  size,
  lastModified: when,
  ...(checksum ? { checksum: sum(checksum) } : {}),
});

/** A worker-listed side whose content hashes are `contents` (key → checksum letter); records what it was asked. */
function side(contents: Record<string, string>): ChecksumsOnRequest & { asked: string[][] } {
  const asked: string[][] = [];
  return {
    asked,
    async checksumsOf(objects) {
      asked.push(objects.map((o) => o.key));
      return new Map(
        objects.filter((o) => contents[o.key]).map((o) => [o.key, { ...o, checksum: sum(contents[o.key]!) }]),
      );
    },
  };
}

async function* listing(objects: ObjectInfo[]): AsyncGenerator<ObjectInfo> {
  yield* objects;
}

async function settled(
  source: ObjectInfo[],
  destination: ObjectInfo[],
  sides: Parameters<typeof settleWithChecksums>[1],
  window?: number,
): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for await (const d of settleWithChecksums(
    mergeListings(listing(source), listing(destination)),
    sides,
    window,
  )) {
    const key = d.kind === 'extra' ? d.destination.key : d.source.key;
    out.push([key, d.kind === 'copy' ? `copy:${d.reason}` : d.kind]);
  }
  return out;
}

describe('settleWithChecksums', () => {
  it('hashes a filesystem source only where the other side has the same key and size', async () => {
    const fs = side({ same: 'a', changed: 'b', resized: 'c', only: 'd' });
    const result = await settled(
      [object('changed', 5), object('only', 7), object('resized', 3), object('same', 5)],
      [
        object('changed', 5, 'x'),
        object('resized', 4, 'c'),
        object('same', 5, 'a'),
        object('z-extra', 1, 'e'),
      ],
      { source: fs },
    );
    expect(result).toEqual([
      ['changed', 'copy:checksum'],
      ['only', 'copy:missing'],
      ['resized', 'copy:size'],
      ['same', 'same'],
      ['z-extra', 'extra'],
    ]);
    expect(fs.asked.flat().sort()).toEqual(['changed', 'same']);
  });

  it('asks both sides when neither records checksums (filesystem to filesystem)', async () => {
    const source = side({ a: 'a', b: 'b' });
    const destination = side({ a: 'a', b: 'x' });
    const result = await settled([object('a', 1), object('b', 1)], [object('a', 1), object('b', 1)], {
      source,
      destination,
    });
    expect(result).toEqual([
      ['a', 'same'],
      ['b', 'copy:checksum'],
    ]);
    expect(source.asked.flat()).toEqual(['a', 'b']);
    expect(destination.asked.flat()).toEqual(['a', 'b']);
  });

  it('leaves a copy when the other side has no checksum to compare with, or the object is gone', async () => {
    const fs = side({ kept: 'k' });
    const result = await settled(
      [object('gone', 2, 'g'), object('kept', 2)], // an S3 object written without ferry-sha256: no checksum
      [object('gone', 2), object('kept', 2)],
      { destination: fs },
    );
    expect(result).toEqual([
      ['gone', 'copy:unverifiable'], // asked for, but deleted since it was listed
      ['kept', 'copy:unverifiable'], // the source has nothing to compare with: not even asked
    ]);
    expect(fs.asked.flat()).toEqual(['gone']);
  });

  it('keeps the order of decisions across windows', async () => {
    const fs = side(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, i % 2 ? 'a' : 'b'])));
    const source = Array.from({ length: 10 }, (_, i) => object(`k${i}`, i % 3 === 0 ? 9 : 1));
    const destination = Array.from({ length: 10 }, (_, i) => object(`k${i}`, 1, 'a'));
    const result = await settled(source, destination, { source: fs }, 3);
    expect(result.map(([k]) => k)).toEqual(source.map((o) => o.key));
    expect(result.map(([, d]) => d)).toEqual(
      source.map((o, i) => (o.size === 9 ? 'copy:size' : i % 2 ? 'same' : 'copy:checksum')),
    );
  });

  it('passes every decision through untouched when no side is listed by a worker', async () => {
    const decisions: KeyDecision[] = [
      { kind: 'copy', source: object('a', 1), destination: object('a', 1), reason: 'unverifiable' },
    ];
    async function* given() {
      yield* decisions;
    }
    const out: KeyDecision[] = [];
    for await (const d of settleWithChecksums(given(), {})) out.push(d);
    expect(out).toEqual(decisions);
  });
});
