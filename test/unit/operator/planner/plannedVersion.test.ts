import type { ObjectInfo } from '../../../../storage/objectStore.ts';
import { planTasks, type PlanSettings, type PlannedTask } from '../../../../operator/planner/taskPlanner.ts';

const settings: PlanSettings = {
  mode: 'Copy',
  maxObjects: 10,
  maxBytes: 1000,
  partSize: 50,
  inScope: () => true,
};

function source(key: string, size: number): ObjectInfo {
  return { key, size, lastModified: new Date(0), version: `v-${key}` };
}

async function plan(...objects: ObjectInfo[]): Promise<PlannedTask[]> {
  async function* decisions() {
    for (const object of objects) yield { kind: 'copy' as const, source: object, reason: 'missing' as const };
  }
  const tasks: PlannedTask[] = [];
  for await (const task of planTasks(decisions(), settings)) tasks.push(task);
  return tasks;
}

describe('the source version in the plan (ADR 0033)', () => {
  it('travels with every part of a large object, so its parts can be pinned to it', async () => {
    const tasks = await plan(source('large', 120));
    expect(tasks.map((t) => (t.kind === 'copyPart' ? t.object.version : undefined))).toEqual([
      'v-large',
      'v-large',
      'v-large',
    ]);
  });

  it('is left out for objects copied whole (a read is one version by itself, and the ledger stays small)', async () => {
    const [task] = await plan(source('small', 10));
    expect(task).toMatchObject({ kind: 'copy', objects: [{ key: 'small', size: 10 }] });
    expect(task?.kind === 'copy' && task.objects[0]).not.toHaveProperty('version');
  });
});
