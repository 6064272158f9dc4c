// What the demo reads from the job's task ledger (etcd), the operator's own
// record of every task: which tasks a worker holds right now (to kill a busy
// one), and afterwards how many tasks were sent more than once.
import type { Etcd3 } from 'etcd3';
import { TaskLedger, type TaskRecord } from '../operator/ledger/taskLedger.ts';

export interface HeldTask {
  taskId: string;
  worker: string;
  objects: number;
  bytes: number;
  /** When the ledger recorded it RUNNING. */
  since: string;
}

/** Tasks the ledger shows RUNNING, with the worker pod that reported it; the latest started first. */
export async function runningTasks(etcd: Etcd3, jobUid: string): Promise<HeldTask[]> {
  const held: HeldTask[] = [];
  for await (const { taskId, record } of new TaskLedger(etcd, jobUid).tasks()) {
    if (record.state === 'RUNNING' && record.worker)
      held.push({
        taskId,
        worker: record.worker,
        objects: record.objects,
        bytes: record.bytes,
        since: record.updatedAt,
      });
  }
  return held.sort((a, b) => b.since.localeCompare(a.since));
}

export interface ResendReport {
  /** The job's current epoch: 1 at creation, +1 for every (re)start of the task engine. */
  epoch: number;
  tasks: number;
  /** Tasks that succeeded on their first dispatch. */
  firstTime: number;
  /** Tasks dispatched more than once (a resume or a retry re-sent them). */
  resent: number;
  /** Dispatches in all: the sum of every task's attempts. */
  dispatches: number;
  notSucceeded: number;
  /** Where each of `watched` ended: its final state, attempt and epoch. */
  watched: Map<string, Pick<TaskRecord, 'state' | 'attempt' | 'epoch' | 'worker'>>;
}

export async function readResends(etcd: Etcd3, jobUid: string, watched: string[]): Promise<ResendReport> {
  const ledger = new TaskLedger(etcd, jobUid);
  const job = await ledger.job();
  if (!job) throw new Error(`no ledger record for job ${jobUid}`);
  const report: ResendReport = {
    epoch: job.record.epoch,
    tasks: 0,
    firstTime: 0,
    resent: 0,
    dispatches: 0,
    notSucceeded: 0,
    watched: new Map(),
  };
  for await (const { taskId, record } of ledger.tasks()) {
    report.tasks++;
    report.dispatches += record.attempt;
    if (record.attempt > 1) report.resent++;
    if (record.state !== 'SUCCEEDED') report.notSucceeded++;
    else if (record.attempt === 1) report.firstTime++;
    if (watched.includes(taskId)) {
      const { state, attempt, epoch, worker } = record;
      report.watched.set(taskId, { state, attempt, epoch, worker });
    }
  }
  return report;
}
