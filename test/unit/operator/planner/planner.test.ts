import type { ObjectInfo } from '../../../../storage/objectStore.ts';
import { compileFilters, globToRegExp } from '../../../../operator/planner/filters.ts';
import { ListingOrderError, mergeListings } from '../../../../operator/planner/listingMerge.ts';
import { judgeDeletes } from '../../../../operator/planner/deleteSafety.ts';
import {
  emptyTotals,
  planTasks,
  type PlanSettings,
  type PlannedTask,
} from '../../../../operator/planner/taskPlanner.ts';

const when = new Date('2026-11-01T00:00:00Z');
function obj(key: string, size = 10, sha?: string, etag?: string): ObjectInfo {
  return {
    key,
    size,
    lastModified: when,
    ...(sha ? { checksum: { algorithm: 'SHA256', value: sha } } : {}),
    ...(etag ? { etag } : {}),
  };
}
async function* listing(...objects: ObjectInfo[]): AsyncGenerator<ObjectInfo> {
  yield* objects;
}
async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const settings: PlanSettings = {
  mode: 'Copy',
  maxObjects: 3,
  maxBytes: 100,
  partSize: 50,
  inScope: () => true,
};

describe('merging the source and destination listings', () => {
  it('decides every key once: missing ones are copied, equal ones skipped, changed ones copied, extra ones reported', async () => {
    const decisions = await collect(
      mergeListings(
        listing(obj('a', 1, 'aa'), obj('b', 2, 'bb'), obj('c', 3, 'cc'), obj('é', 4)),
        listing(obj('b', 2, 'bb'), obj('c', 3, 'XX'), obj('d', 5), obj('é', 4)),
      ),
    );
    expect(
      decisions.map(
        (d) =>
          `${d.kind}:${(d.kind === 'extra' ? d.destination : d.source).key}${d.kind === 'copy' ? `:${d.reason}` : ''}`,
      ),
    ).toEqual([
      'copy:a:missing',
      'same:b',
      'copy:c:checksum',
      'extra:d',
      'copy:é:unverifiable', // same size, but nothing proves the content equal
    ]);
  });

  it('compares keys as UTF-8 bytes, the order S3 lists them in', async () => {
    // "a/b" < "a-b" by code point? No: '-' (0x2d) < '/' (0x2f) < '0' (0x30); "é" sorts after "z".
    const keys = ['a-b', 'a.b', 'a/b', 'a0', 'z', 'é'];
    const decisions = await collect(mergeListings(listing(...keys.map((k) => obj(k))), listing()));
    expect(decisions.map((d) => (d.kind === 'copy' ? d.source.key : ''))).toEqual(keys);
  });

  it('refuses a listing that is out of order instead of taking objects for missing', async () => {
    await expect(collect(mergeListings(listing(obj('b'), obj('a')), listing()))).rejects.toThrow(
      ListingOrderError,
    );
    await expect(collect(mergeListings(listing(), listing(obj('x'), obj('x'))))).rejects.toThrow(
      /destination listing is not in UTF-8 byte order/,
    );
  });

  it('treats equal plain-MD5 ETags as equal content, but not multipart ETags', async () => {
    const md5 = '0123456789abcdef0123456789abcdef';
    const [plain] = await collect(
      mergeListings(listing(obj('k', 5, undefined, md5)), listing(obj('k', 5, undefined, md5))),
    );
    expect(plain?.kind).toBe('same');
    const [multipart] = await collect(
      mergeListings(listing(obj('k', 5, undefined, `${md5}-3`)), listing(obj('k', 5, undefined, `${md5}-3`))),
    );
    expect(multipart?.kind).toBe('copy');
  });
});

describe('planning tasks', () => {
  async function plan(
    source: ObjectInfo[],
    destination: ObjectInfo[],
    overrides: Partial<PlanSettings> = {},
  ) {
    const totals = emptyTotals();
    const tasks = await collect(
      planTasks(
        mergeListings(listing(...source), listing(...destination)),
        { ...settings, ...overrides },
        totals,
      ),
    );
    return { tasks, totals };
  }
  const describeTask = (t: PlannedTask) =>
    t.kind === 'copy'
      ? `${t.id} copy ${t.objects.map((o) => o.key).join(',')}`
      : t.kind === 'delete'
        ? `${t.id} delete ${t.keys.join(',')}`
        : `${t.id} part ${t.object.key} ${t.partNumber}/${t.partCount} ${t.start}-${t.end}`;

  it('batches small objects up to the object and byte caps, and splits large objects into parts', async () => {
    const { tasks, totals } = await plan(
      [obj('a', 10), obj('b', 10), obj('c', 10), obj('d', 10), obj('e', 45), obj('f', 45), obj('g', 120)],
      [],
    );
    expect(tasks.map(describeTask)).toEqual([
      't0000000000 copy a,b,c', // object cap 3
      // A large object's parts go out at once; the open batch of small ones closes later.
      't0000000001 part g 1/3 0-49',
      't0000000002 part g 2/3 50-99',
      't0000000003 part g 3/3 100-119',
      't0000000004 copy d,e,f', // 100 bytes: exactly the byte cap
    ]);
    expect(totals).toMatchObject({ objectsToCopy: 7, bytesToCopy: 250, tasks: 5 });
  });

  it('never splits an object into more than 10,000 parts (the S3 limit): a huge object gets larger parts', async () => {
    const size = 50 * 10_000 * 2 + 7; // 20,001 parts at the configured 50 bytes
    const { tasks } = await plan([obj('huge', size)], []);
    expect(tasks.length).toBeLessThanOrEqual(10_000);
    expect(tasks.length).toBeGreaterThan(9_000); // parts just large enough, not more
    const parts = tasks.filter((t) => t.kind === 'copyPart');
    expect(parts.every((t) => t.partCount === tasks.length)).toBe(true);
    // Contiguous, covering every byte once.
    expect(parts[0]!.start).toBe(0);
    for (let i = 1; i < parts.length; i++) expect(parts[i]!.start).toBe(parts[i - 1]!.end + 1);
    expect(parts.at(-1)!.end).toBe(size - 1);
  });

  it('gives the same task ids when the same listings are planned again', async () => {
    const once = await plan([obj('a'), obj('b'), obj('c'), obj('d')], []);
    const again = await plan([obj('a'), obj('b'), obj('c'), obj('d')], []);
    expect(again.tasks).toEqual(once.tasks);
  });

  it('plans deletes of extra destination objects only in Sync mode', async () => {
    expect((await plan([obj('a', 1, 'x')], [obj('a', 1, 'x'), obj('z')])).tasks).toEqual([]);
    const sync = await plan([obj('a', 1, 'x')], [obj('a', 1, 'x'), obj('y'), obj('z')], { mode: 'Sync' });
    expect(sync.tasks.map(describeTask)).toEqual(['t0000000000 delete y,z']);
    expect(sync.totals).toMatchObject({ objectsToDelete: 2, objectsSkipped: 1, sourceObjects: 1 });
  });

  it('neither copies nor deletes objects outside the filters', async () => {
    const inScope = compileFilters({ include: ['photos/**'], exclude: ['**/*.tmp'], maxSize: 50 });
    const { tasks } = await plan(
      [obj('docs/a'), obj('photos/2026/a.jpg'), obj('photos/b.tmp'), obj('photos/huge.jpg', 60)],
      [obj('docs/old'), obj('photos/gone.jpg'), obj('photos/keep.tmp')],
      { mode: 'Sync', inScope },
    );
    expect(tasks.map(describeTask)).toEqual([
      't0000000000 copy photos/2026/a.jpg',
      't0000000001 delete photos/gone.jpg',
    ]);
  });
});

describe('globs', () => {
  it('keep * within a path segment and let ** cross segments', () => {
    expect(globToRegExp('logs/*.gz').test('logs/a.gz')).toBe(true);
    expect(globToRegExp('logs/*.gz').test('logs/2026/a.gz')).toBe(false);
    expect(globToRegExp('logs/**').test('logs/2026/a.gz')).toBe(true);
    expect(globToRegExp('a+b (1).txt').test('a+b (1).txt')).toBe(true);
  });
});

describe('delete safety', () => {
  const totals = (sourceObjects: number, objectsToDelete: number) => ({
    ...emptyTotals(),
    sourceObjects,
    objectsToDelete,
  });

  it('refuses to delete anything when the source listing is empty, unless allowed', () => {
    expect(judgeDeletes(totals(0, 5), {})).toMatchObject({ allowed: false, reason: 'SourceListingEmpty' });
    expect(judgeDeletes(totals(0, 5), { allowEmptySource: true })).toEqual({ allowed: true });
  });

  it('refuses a plan with more deletes than maxDeletes, naming both numbers', () => {
    const verdict = judgeDeletes(totals(10, 11), { maxDeletes: 10 });
    expect(verdict).toMatchObject({ allowed: false, reason: 'TooManyDeletes' });
    expect(verdict.allowed === false && verdict.message).toContain(
      '11 destination objects, more than spec.deletion.maxDeletes (10)',
    );
    expect(judgeDeletes(totals(10, 10), { maxDeletes: 10 })).toEqual({ allowed: true });
  });
});
