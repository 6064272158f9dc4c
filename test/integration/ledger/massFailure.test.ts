// A mass failure against the real etcd: every object of every task failed,
// with long keys. The ledger must record it within etcd's request limit
// (1.5 MiB by default: a transaction over it is refused, and the job could
// never record its statuses), count what tasks failed in part committed, and
// keep every reported failure for the job's report.
import { randomBytes, randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { Etcd3 } from 'etcd3';
import { statusFailureBounds, type ObjectFailure } from '../../../api/tasks.ts';
import { buildFailureReport, compressReport } from '../../../operator/engine/failureReport.ts';
import { TaskLedger } from '../../../operator/ledger/taskLedger.ts';
import { taskId, type PlannedTask } from '../../../operator/planner/taskPlanner.ts';
import { bedEndpoints } from '../../support/bed.ts';

const etcdRequestLimit = 1.5 * 1024 * 1024;

/** A ~1000-byte key, as deep as a filesystem allows (segments under 255 bytes). */
function longKey(task: number, object: number): string {
  // Random, as real keys are: deflate takes nothing out of them.
  const segment = (n: number) => `${String(n).padStart(4, '0')}-${randomBytes(120).toString('hex')}`;
  return `t${task}/${segment(1)}/${segment(2)}/${segment(3)}/o${object}-${'k'.repeat(220)}`;
}

function copyTask(position: number, objects: number): PlannedTask {
  return {
    kind: 'copy',
    id: taskId(position),
    objects: Array.from({ length: objects }, (_, i) => ({ key: longKey(position, i), size: 10 })),
    bytes: objects * 10,
  };
}

const reason = (key: string) => `ENAMETOOLONG: the destination refused ${key.slice(-20)} ${'.'.repeat(200)}`;

describe('a mass failure in the task ledger', () => {
  let etcd: Etcd3;
  beforeAll(() => {
    etcd = new Etcd3({ hosts: bedEndpoints().ledgerEtcdUrl });
  });
  afterAll(() => etcd.close());

  it('records 50 FAILED statuses of 100 long-key failures each, every transaction under etcd’s limit, and keeps each failure with its reason', async () => {
    const transactions: number[] = [];
    const ledger = new TaskLedger(etcd, randomUUID(), undefined, (bytes) => transactions.push(bytes));
    await ledger.ensureJob();
    const tasks = Array.from({ length: 50 }, (_, i) => copyTask(i, 200));
    await ledger.recordPlan(tasks, {}, true);
    await ledger.applyUpdates(
      tasks.map((t) => ({ taskId: t.id, state: 'DISPATCHED', epoch: 2, attempt: 1 })),
    );

    const failures = (t: PlannedTask): ObjectFailure[] =>
      t.kind === 'copy'
        ? t.objects
            .slice(0, statusFailureBounds.maxFailures)
            .map((o) => ({ key: o.key, reason: reason(o.key) }))
        : [];
    const outcomes = await ledger.applyUpdates(
      tasks.map((t) => ({
        taskId: t.id,
        state: 'FAILED' as const,
        epoch: 2,
        attempt: 1,
        objectsDone: 0,
        bytesDone: 0,
        error: {
          kind: 'permanent' as const,
          message: 'every object failed',
          failures: failures(t),
          failedCount: 200,
        },
      })),
    );

    expect(outcomes.every((o) => o.apply)).toBe(true);
    expect(Math.max(...transactions)).toBeLessThan(etcdRequestLimit);
    const summary = await ledger.summarize();
    expect(summary.tasks.FAILED).toBe(50);
    expect(summary.objectsFailed).toBe(50 * 200);
    expect(summary.failures).toHaveLength(100);
    for (const f of summary.failures) expect(f.reason).toMatch(/^ENAMETOOLONG/);
    // A record keeps a sample: small, so summaries and status writes stay cheap.
    const record = await ledger.task(taskId(0));
    expect(Buffer.byteLength(JSON.stringify(record))).toBeLessThan(20 * 1024);
    // The report has every failure the workers named, each with its reason.
    const report = await buildFailureReport(ledger.failureReport());
    const parts = compressReport(report);
    expect(report).toMatchObject({ failed: 10_000, named: 10_000, cut: 0 });
    for (const gz of parts) expect(gz.toString('base64').length).toBeLessThan(1024 * 1024); // fits a ConfigMap
    const named = parts
      .flatMap((gz) => gunzipSync(gz).toString().trimEnd().split('\n'))
      .map((l) => JSON.parse(l) as { key?: string; reason: string })
      .filter((l) => l.key);
    // The workers named 100 of each task's 200; the others are the rest of the task (all failed), named so.
    expect(new Set(named.map((l) => l.key))).toEqual(
      new Set(tasks.flatMap((t) => (t.kind === 'copy' ? t.objects.map((o) => o.key) : []))),
    );
    const reported = new Set(tasks.flatMap((t) => failures(t).map((f) => f.key)));
    for (const l of named)
      if (reported.has(l.key!)) expect(l.reason).toBe(reason(l.key!));
      else
        expect(l.reason).toMatch(
          /^every object of task t\d+ failed; its worker named 100 of them, the first with: ENAMETOOLONG/,
        );
    console.log(
      'largest status transaction',
      Math.max(...transactions),
      'bytes; transactions',
      transactions.length,
      'report parts',
      parts.map((p) => p.length),
    );
    await ledger.remove();
  });

  it('counts what a task that failed in part committed, once, also after a retry that copied it all', async () => {
    const ledger = new TaskLedger(etcd, randomUUID());
    await ledger.ensureJob();
    const task = copyTask(0, 21);
    await ledger.recordPlan([task], {}, true);
    const failed = {
      kind: 'permanent' as const,
      message: 'one key refused',
      failures: [{ key: longKey(0, 20), reason: 'ENAMETOOLONG' }],
      failedCount: 1,
    };
    await ledger.applyUpdates([
      {
        taskId: task.id,
        state: 'FAILED',
        epoch: 2,
        attempt: 1,
        objectsDone: 20,
        bytesDone: 200,
        error: failed,
      },
    ]);
    expect(await ledger.summarize()).toMatchObject({ objectsCopied: 20, bytesCopied: 200, objectsFailed: 1 });

    // The retry sends the whole task again; the record holds the retry's counts, not both.
    await ledger.applyUpdates([{ taskId: task.id, state: 'DISPATCHED', epoch: 2, attempt: 2 }]);
    expect(await ledger.summarize()).toMatchObject({ objectsCopied: 0, objectsFailed: 0 });
    await ledger.applyUpdates([
      { taskId: task.id, state: 'SUCCEEDED', epoch: 2, attempt: 2, objectsDone: 21, bytesDone: 210 },
    ]);
    expect(await ledger.summarize()).toMatchObject({
      objectsCopied: 21,
      bytesCopied: 210,
      objectsFailed: 0,
      failures: [],
    });
    expect([...(await collect(ledger.failureReport()))]).toEqual([]);
    await ledger.remove();
  });
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
