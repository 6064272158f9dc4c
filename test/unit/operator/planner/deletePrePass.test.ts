import type { ObjectInfo } from '../../../../storage/objectStore.ts';
import {
  countDeletes,
  findNameCollisions,
  judgeCountedDeletes,
} from '../../../../operator/planner/deletePrePass.ts';
import { compileFilters } from '../../../../operator/planner/filters.ts';
import {
  findSourceCollisions,
  judgeSourceCollisions,
} from '../../../../operator/planner/foldedSourceNames.ts';
import { mergeListings } from '../../../../operator/planner/listingMerge.ts';
import { foldedName } from '../../../../operator/planner/nameFolding.ts';

const obj = (key: string): ObjectInfo => ({ key, size: 1, lastModified: new Date(0) });
async function* listing(...keys: string[]): AsyncGenerator<ObjectInfo> {
  for (const key of [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))) yield obj(key);
}
const all = compileFilters(undefined);

describe('the counting pre-pass of a Sync', () => {
  it('counts in-scope deletes and source objects', async () => {
    const count = await countDeletes(
      mergeListings(listing('a', 'logs/x'), listing('a', 'b', 'logs/y', 'c')),
      compileFilters({ exclude: ['logs/**'] }),
      10,
    );
    expect(count).toMatchObject({ deletes: 2, sourceObjects: 1, exceeded: false });
    expect([...count.candidates.values()].flat().sort()).toEqual(['b', 'c']);
  });

  it('stops past maxDeletes, holding no candidates, before reading the rest of the listings', async () => {
    let read = 0;
    async function* destination() {
      for (let i = 0; i < 1000; i++) {
        read++;
        yield obj(`d${String(i).padStart(4, '0')}`);
      }
    }
    const count = await countDeletes(mergeListings(listing(), destination()), all, 3);
    expect(count).toMatchObject({ deletes: 4, exceeded: true });
    expect(count.candidates.size).toBe(0);
    expect(read).toBeLessThan(10);
  });

  const judged = {
    'more than maxDeletes': [
      { deletes: 4, sourceObjects: 2, exceeded: true },
      { maxDeletes: 3 },
      'TooManyDeletes',
    ],
    'an empty source': [{ deletes: 2, sourceObjects: 0, exceeded: false }, {}, 'SourceListingEmpty'],
    'an empty source allowed': [
      { deletes: 2, sourceObjects: 0, exceeded: false },
      { allowEmptySource: true },
      undefined,
    ],
    'within the limit': [{ deletes: 3, sourceObjects: 1, exceeded: false }, { maxDeletes: 3 }, undefined],
  } as const;
  it.each(Object.entries(judged))('judges %s', (_, [count, deletion, reason]) => {
    const verdict = judgeCountedDeletes({ ...count, candidates: new Map() }, [], deletion);
    if (reason === undefined) expect(verdict).toEqual({ allowed: true });
    else {
      expect(verdict).toMatchObject({ allowed: false, reason });
      expect(!verdict.allowed && verdict.message).toMatch(/nothing was copied or deleted$/);
    }
  });
});

describe('deletes whose names fold onto a source key', () => {
  it('folds case and Unicode normalisation to one spelling', () => {
    expect(foldedName('Photo.JPG')).toBe(foldedName('photo.jpg'));
    expect(foldedName('cafe\u0301')).toBe(foldedName('caf\u00e9'));
    expect(foldedName('CAFE\u0301')).toBe(foldedName('caf\u00e9'));
    expect(foldedName('a/b')).not.toBe(foldedName('a/c'));
  });

  it('finds each source key that folds onto a candidate, wherever it sorts, and names both', async () => {
    // "Photo.JPG" sorts before "photo.jpg"; "caf\u00e9" (NFC) after "cafe\u0301" (NFD).
    const count = await countDeletes(
      mergeListings(
        listing('Photo.JPG', 'caf\u00e9', 'keep'),
        listing('cafe\u0301', 'keep', 'photo.jpg', 'old'),
      ),
      all,
      10,
    );
    expect(count.deletes).toBe(3);
    const collisions = await findNameCollisions(
      listing('Photo.JPG', 'caf\u00e9', 'keep'),
      count.candidates,
      all,
    );
    expect(collisions).toEqual(
      expect.arrayContaining([
        { deleteKey: 'photo.jpg', sourceKey: 'Photo.JPG' },
        { deleteKey: 'cafe\u0301', sourceKey: 'caf\u00e9' },
      ]),
    );
    expect(collisions).toHaveLength(2);
    const verdict = judgeCountedDeletes(count, collisions, {});
    expect(verdict).toMatchObject({ allowed: false, reason: 'DeleteNameCollision' });
    expect(!verdict.allowed && verdict.message).toContain('"photo.jpg" (source "Photo.JPG")');
  });

  it('ignores source keys out of scope', async () => {
    const candidates = new Map([[foldedName('photo.jpg'), ['photo.jpg']]]);
    const inScope = compileFilters({ exclude: ['P*'] });
    expect(await findNameCollisions(listing('Photo.JPG'), candidates, inScope)).toEqual([]);
  });
});

describe('source keys that one folding destination would store as one file', () => {
  it('pairs each later spelling with the first, however far apart they sort', async () => {
    const found = await findSourceCollisions(
      listing('Report.pdf', 'a/b', 'caf\u00e9', 'cafe\u0301', 'm', 'report.pdf', 'REPORT.PDF'),
      all,
    );
    expect(found.tooMany).toBe(false);
    expect(found.pairs).toHaveLength(3);
    const verdict = judgeSourceCollisions(found, 'filesystem store data:/');
    expect(verdict).toMatchObject({ allowed: false, reason: 'SourceNameCollision' });
    expect(!verdict.allowed && verdict.message).toContain('"REPORT.PDF" and "Report.pdf"');
  });

  it('allows keys that differ after folding, and refuses past its memory bound rather than copy unchecked', async () => {
    expect(judgeSourceCollisions(await findSourceCollisions(listing('a', 'b/a', 'c'), all), 'd')).toEqual({
      allowed: true,
    });
    const found = await findSourceCollisions(listing('a', 'b', 'c', 'd'), all, { maxKeys: 2 });
    expect(found.tooMany).toBe(true);
    expect(judgeSourceCollisions(found, 'd')).toMatchObject({
      allowed: false,
      reason: 'SourceNameCollision',
    });
  });
});
