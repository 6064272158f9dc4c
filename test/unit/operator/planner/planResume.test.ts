// Planning resumed from a checkpoint continues the same plan: the same task
// ids, the same tasks, the same totals, whatever step it was interrupted at.
import type { ObjectInfo } from '../../../../storage/objectStore.ts';
import { mergeListings } from '../../../../operator/planner/listingMerge.ts';
import {
  emptyTotals,
  planInSteps,
  type PlanSettings,
  type PlanStep,
  type PlannedTask,
} from '../../../../operator/planner/taskPlanner.ts';

const when = new Date('2026-11-01T00:00:00Z');
const key = (i: number) => `k/${String(i).padStart(4, '0')}`;
// 300 source objects; the destination holds every third one already (equal), every seventh
// with other content, and some extra keys (deleted in Sync).
const source: ObjectInfo[] = Array.from({ length: 300 }, (_, i) => ({
  key: key(i),
  size: i === 150 ? 130 : 10 + (i % 5),
  lastModified: when,
  checksum: { algorithm: 'SHA256', value: `s${i}` },
}));
const destination: ObjectInfo[] = [
  ...source
    .filter((_, i) => i % 3 === 0 || i % 7 === 0)
    .map((o, j) => (j % 2 ? o : { ...o, checksum: { algorithm: 'SHA256', value: 'other' } })),
  ...Array.from({ length: 40 }, (_, i) => ({ key: `${key(i * 7)}.extra`, size: 1, lastModified: when })),
].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));

/** A store's `list(prefix, startAfter)`: the keys after `after`, in byte order. */
async function* listAfter(objects: ObjectInfo[], after: string | undefined): AsyncGenerator<ObjectInfo> {
  for (const o of objects)
    if (after === undefined || Buffer.compare(Buffer.from(o.key), Buffer.from(after)) > 0) yield o;
}

const settings: PlanSettings = {
  mode: 'Sync',
  maxObjects: 4,
  maxBytes: 1000,
  partSize: 50,
  inScope: () => true,
};
const steps = { tasksPerStep: 7, keysPerStep: 25 };
// A plan from scratch starts with a smaller step (its copies reach the workers sooner); a resumed one does not.
const firstStep = { tasksPerStep: 2, keysPerStep: 5 };

async function planFrom(after: string | undefined, totals = emptyTotals(), stopAfterSteps = Infinity) {
  const out: PlanStep[] = [];
  for await (const step of planInSteps(
    mergeListings(listAfter(source, after), listAfter(destination, after)),
    settings,
    totals,
    after === undefined ? { ...steps, firstStep } : steps,
  )) {
    out.push(step);
    if (out.length >= stopAfterSteps) break;
  }
  return out;
}

describe('planning in checkpointed steps', () => {
  it('covers every key exactly once, with ids that are the plan positions', async () => {
    const all = await planFrom(undefined);
    expect(all.length).toBeGreaterThan(5);
    // The first step is the small one: five keys decided (k/0000, its extra k/0000.extra, k/0001 to k/0003).
    expect(all[0]!.after).toBe(key(3));
    expect(all.at(-1)!.done).toBe(true);
    const tasks = all.flatMap((s) => s.tasks);
    expect(tasks.map((t) => t.id)).toEqual(tasks.map((_, i) => `t${String(i).padStart(10, '0')}`));
    const copied = tasks.flatMap((t) =>
      t.kind === 'copy' ? t.objects.map((o) => o.key) : t.kind === 'copyPart' ? [t.object.key] : [],
    );
    const deleted = tasks.flatMap((t) => (t.kind === 'delete' ? t.keys : []));
    const totals = all.at(-1)!.totals;
    expect(new Set(copied).size).toBe(totals.objectsToCopy);
    expect(deleted).toHaveLength(40);
    expect(totals.objectsToCopy + totals.objectsSkipped).toBe(300);
    expect(totals.tasks).toBe(tasks.length);
    // Each step ends on a key that is fully planned: nothing after it was planned in that step.
    for (const step of all.slice(0, -1)) {
      const keys = step.tasks.flatMap((t: PlannedTask) =>
        t.kind === 'copy' ? t.objects.map((o) => o.key) : t.kind === 'delete' ? t.keys : [t.object.key],
      );
      for (const k of keys)
        expect(Buffer.compare(Buffer.from(k), Buffer.from(step.after!))).toBeLessThanOrEqual(0);
    }
  });

  it('resumed after any step from its checkpoint (key and totals), continues the very same plan', async () => {
    const uninterrupted = await planFrom(undefined);
    for (let stoppedAt = 1; stoppedAt < uninterrupted.length; stoppedAt++) {
      const before = await planFrom(undefined, emptyTotals(), stoppedAt);
      const checkpoint = before.at(-1)!;
      // The ledger keeps a copy of the totals; the planner goes on from it.
      const after = await planFrom(checkpoint.after, { ...checkpoint.totals });
      const resumed = [...before, ...after];
      expect(resumed.flatMap((s) => s.tasks)).toEqual(uninterrupted.flatMap((s) => s.tasks));
      expect(resumed.at(-1)!.totals).toEqual(uninterrupted.at(-1)!.totals);
    }
  });

  it('moves the checkpoint through a long run of identical objects, which makes no tasks', async () => {
    const same = source.slice(0, 100);
    const out: PlanStep[] = [];
    for await (const step of planInSteps(
      mergeListings(listAfter(same, undefined), listAfter(same, undefined)),
      settings,
      emptyTotals(),
      steps,
    ))
      out.push(step);
    expect(out.map((s) => s.after)).toEqual([key(24), key(49), key(74), key(99), key(99)]);
    expect(out.flatMap((s) => s.tasks)).toEqual([]);
    expect(out.at(-1)!.totals).toMatchObject({ objectsSkipped: 100, tasks: 0 });
  });
});
