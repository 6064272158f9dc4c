// Tasks are sized by their message, not only by tasks.maxObjects: a thousand
// 1,000-byte keys would pass NATS's 1 MiB max payload.
import type { KeyDecision } from '../../../../operator/planner/listingMerge.ts';
import {
  maxTaskMessageBytes,
  TaskPlanner,
  type PlannedTask,
  type PlanSettings,
} from '../../../../operator/planner/taskPlanner.ts';

const settings = (mode: PlanSettings['mode']): PlanSettings => ({
  mode,
  maxObjects: 1000,
  maxBytes: 64 * 1024 * 1024,
  partSize: 8 * 1024 * 1024,
  inScope: () => true,
});

const longKey = (i: number) => `${String(i).padStart(6, '0')}/${'k'.repeat(1010)}`;

function plan(planner: TaskPlanner, decisions: KeyDecision[]): PlannedTask[] {
  return [...decisions.flatMap((d) => planner.add(d)), ...planner.close()];
}

const messageBytes = (task: PlannedTask) =>
  Buffer.byteLength(JSON.stringify({ jobUid: 'u'.repeat(36), epoch: 99, attempt: 99, task }));

describe('task batches sized by their message', () => {
  it('cuts copy tasks of long keys below the message budget, every object planned once', () => {
    const decisions: KeyDecision[] = Array.from({ length: 5000 }, (_, i) => ({
      kind: 'copy',
      source: { key: longKey(i), size: 10, lastModified: new Date(0) },
      reason: 'missing',
    }));
    const tasks = plan(new TaskPlanner(settings('Copy')), decisions);
    expect(tasks.length).toBeGreaterThan(5000 / 1000);
    for (const task of tasks) expect(messageBytes(task)).toBeLessThan(maxTaskMessageBytes + 1024);
    const keys = tasks.flatMap((t) => (t.kind === 'copy' ? t.objects.map((o) => o.key) : []));
    expect(keys).toEqual(decisions.map((d) => (d.kind === 'copy' ? d.source.key : '')));
  });

  it('cuts delete tasks of long keys too', () => {
    const decisions: KeyDecision[] = Array.from({ length: 3000 }, (_, i) => ({
      kind: 'extra',
      destination: { key: longKey(i), size: 10, lastModified: new Date(0) },
    }));
    const tasks = plan(new TaskPlanner(settings('Sync')), decisions);
    for (const task of tasks) expect(messageBytes(task)).toBeLessThan(maxTaskMessageBytes + 1024);
    expect(tasks.reduce((n, t) => n + (t.kind === 'delete' ? t.keys.length : 0), 0)).toBe(3000);
  });

  it('leaves tasks of short keys to tasks.maxObjects', () => {
    const decisions: KeyDecision[] = Array.from({ length: 2000 }, (_, i) => ({
      kind: 'copy',
      source: { key: `data/${i}.bin`, size: 10, lastModified: new Date(0) },
      reason: 'missing',
    }));
    expect(
      plan(new TaskPlanner(settings('Copy')), decisions).map((t) =>
        t.kind === 'copy' ? t.objects.length : 0,
      ),
    ).toEqual([1000, 1000]);
  });
});
