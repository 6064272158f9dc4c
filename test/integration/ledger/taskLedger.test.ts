import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { PlanConflictError, TaskLedger } from '../../../operator/ledger/taskLedger.ts';
import { taskId, type PlannedTask } from '../../../operator/planner/taskPlanner.ts';
import { bedEndpoints } from '../../support/bed.ts';

function copyTask(position: number, objects = 3, keyLength = 20): PlannedTask {
  return {
    kind: 'copy',
    id: taskId(position),
    objects: Array.from({ length: objects }, (_, i) => ({
      // Random, so the deflated definitions stay near their plain size.
      key: `k${position}-${i}-${randomBytes(keyLength).toString('hex')}`.slice(0, keyLength),
      size: 4096,
    })),
    bytes: objects * 4096,
  };
}

describe('the task ledger in etcd', () => {
  let etcd: Etcd3;
  beforeAll(() => {
    etcd = new Etcd3({ hosts: bedEndpoints().ledgerEtcdUrl });
  });
  afterAll(() => etcd.close());

  it('records a plan larger than one etcd transaction, in order, with an exact checkpoint', async () => {
    const ledger = new TaskLedger(etcd, randomUUID());
    await ledger.ensureJob();
    // 250 small tasks need 3 transactions by operation count; 40 tasks of 1000 long keys need several by bytes.
    await ledger.recordPlan(
      Array.from({ length: 250 }, (_, i) => copyTask(i)),
      { sourceAfter: 'k249' },
    );
    await ledger.recordPlan(
      Array.from({ length: 40 }, (_, i) => copyTask(250 + i, 1000, 100)),
      { sourceAfter: 'k289' },
      true,
    );
    const ids: string[] = [];
    for await (const { taskId: id, record } of ledger.tasks()) {
      ids.push(id);
      expect(record.state).toBe('PENDING');
    }
    expect(ids).toEqual(Array.from({ length: 290 }, (_, i) => taskId(i)));
    expect((await ledger.job())!.record).toMatchObject({
      checkpoint: { tasks: 290, sourceAfter: 'k289' },
      planComplete: true,
    });
    await ledger.remove();
  });

  it('stores task definitions deflated and reads them back whole', async () => {
    const uid = randomUUID();
    const ledger = new TaskLedger(etcd, uid);
    await ledger.ensureJob();
    const task: PlannedTask = {
      kind: 'copy',
      id: taskId(0),
      objects: Array.from({ length: 1000 }, (_, i) => ({
        key: `photos/2026/${String(i % 12).padStart(2, '0')}/IMG_${String(i).padStart(6, '0')} ünïcode %2F+.jpg`,
        size: 4096 + i,
        sha256: createHash('sha256').update(String(i)).digest('hex'),
      })),
      bytes: 1000 * 4096,
    };
    await ledger.recordPlan([task], { sourceAfter: 'photos/' }, true);
    const stored = await etcd.get(`/ferry/jobs/${uid}/defs/${task.id}`).buffer();
    expect(stored!.length).toBeLessThan(JSON.stringify(task).length / 2);
    expect(await ledger.definition(task.id)).toEqual(task);

    await ledger.remove();
  });

  it('keeps the checkpoint exact when two planners write at once: a batch commits only against the checkpoint it read', async () => {
    const uid = randomUUID();
    const other = new Etcd3({ hosts: bedEndpoints().ledgerEtcdUrl });
    const a = new TaskLedger(etcd, uid);
    const b = new TaskLedger(other, uid);
    try {
      await a.ensureJob();
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) =>
          (i % 2 ? a : b).recordPlan([copyTask(i * 10), copyTask(i * 10 + 1)], {}),
        ),
      );
      for (const r of results)
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PlanConflictError);
      const committed = results.filter((r) => r.status === 'fulfilled').length;
      expect(committed).toBeGreaterThan(0);
      const counts = await a.countByState();
      expect(counts.PENDING).toBe(committed * 2); // no batch half-written
      expect((await a.job())!.record.checkpoint.tasks).toBe(committed * 2); // no update of the checkpoint lost
    } finally {
      await a.remove();
      other.close();
    }
  });

  it('applies a task lifecycle, fences off older epochs and never moves a task out of SUCCEEDED', async () => {
    const ledger = new TaskLedger(etcd, randomUUID());
    await ledger.ensureJob();
    await ledger.recordPlan([copyTask(0), copyTask(1)], {}, true);
    const t0 = taskId(0);
    const t1 = taskId(1);
    expect(
      await ledger.applyUpdates([
        { taskId: t0, state: 'DISPATCHED', epoch: 1, attempt: 1 },
        { taskId: t1, state: 'DISPATCHED', epoch: 1, attempt: 1 },
        { taskId: t0, state: 'RUNNING', epoch: 1, attempt: 1, worker: 'source-0' },
        { taskId: t0, state: 'SUCCEEDED', epoch: 1, attempt: 1, bytesDone: 12288, objectsDone: 3 },
        { taskId: 'nope', state: 'RUNNING', epoch: 1, attempt: 1 },
      ]),
    ).toEqual([
      { taskId: t0, state: 'DISPATCHED', apply: true },
      { taskId: t1, state: 'DISPATCHED', apply: true },
      { taskId: t0, state: 'RUNNING', apply: true },
      { taskId: t0, state: 'SUCCEEDED', apply: true },
      { taskId: 'nope', state: 'RUNNING', apply: false, why: 'unknown-task' },
    ]);
    // A succeeded task is never sent again: its definition went with the success; t1's stays.
    expect(await ledger.definition(t0)).toBeUndefined();
    expect(await ledger.definition(t1)).toEqual(expect.objectContaining({ id: t1 }));
    const epoch = await ledger.openEpoch(); // a resume
    expect(epoch).toBe(2);
    const outcomes = await ledger.applyUpdates([
      { taskId: t1, state: 'DISPATCHED', epoch: 2, attempt: 2 },
      {
        taskId: t1,
        state: 'FAILED',
        epoch: 1,
        attempt: 1,
        error: { kind: 'retryable', message: 'late news from a dead worker' },
      },
      { taskId: t0, state: 'RUNNING', epoch: 2, attempt: 2 },
    ]);
    expect(outcomes.map((o) => (o.apply ? 'applied' : o.why))).toEqual(['applied', 'stale', 'terminal']);
    expect(await ledger.countByState()).toEqual({
      PENDING: 0,
      DISPATCHED: 1,
      RUNNING: 0,
      SUCCEEDED: 1,
      FAILED: 0,
    });
    await ledger.remove();
    expect(await etcd.getAll().prefix(`/ferry/jobs/`).keys()).not.toContain(`/ferry/jobs/${t0}`);
  });

  it('keeps SUCCEEDED when two operators race to apply conflicting updates', async () => {
    const uid = randomUUID();
    const a = new TaskLedger(etcd, uid);
    const other = new Etcd3({ hosts: bedEndpoints().ledgerEtcdUrl });
    const b = new TaskLedger(other, uid);
    try {
      await a.ensureJob();
      await a.recordPlan(
        Array.from({ length: 20 }, (_, i) => copyTask(i)),
        {},
        true,
      );
      const ids = Array.from({ length: 20 }, (_, i) => taskId(i));
      await Promise.all([
        a.applyUpdates(ids.map((id) => ({ taskId: id, state: 'SUCCEEDED' as const, epoch: 1, attempt: 1 }))),
        b.applyUpdates(ids.map((id) => ({ taskId: id, state: 'RUNNING' as const, epoch: 1, attempt: 1 }))),
        b.applyUpdates(ids.map((id) => ({ taskId: id, state: 'DISPATCHED' as const, epoch: 1, attempt: 1 }))),
      ]);
      expect(await a.countByState()).toEqual({
        PENDING: 0,
        DISPATCHED: 0,
        RUNNING: 0,
        SUCCEEDED: 20,
        FAILED: 0,
      });
    } finally {
      await a.remove();
      other.close();
    }
  });
});
