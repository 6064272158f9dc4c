// Tasks held by a source worker the operator has seen die go back at once.
//
// A worker pod that is SIGKILLed (a node lost, a person's kill -9) never acks
// or hands back the task messages it holds, so JetStream would give them to
// another worker only after the ack-wait (a minute by default) — and a
// cluster that loses a pod every few seconds keeps a good share of the job's
// tasks stuck that way. The ledger knows which worker reported each RUNNING
// task, and the job's pods tell which workers are dead: a pod that ended, or
// one its slot has replaced. Those tasks are sent again as their next attempt
// at once, in the same epoch. The message the dead worker held would come
// back after the ack-wait and be carried out a second time (the same objects
// written again), so it is removed from the stream once the task went out
// anew: the worker named its stream sequence in its RUNNING status. Should
// the removal fail, the redelivered message is still harmless: its attempt is
// older than the ledger's, so what it reports is judged stale — a task may be
// carried out twice, never counted twice.
//
// Only RUNNING tasks whose status this engine ingested are looked at (the
// tasks in the workers' hands): an engine that starts resumes, and the resume
// re-sends every task in flight anyway.
import type * as k8s from '@kubernetes/client-node';
import type { JetStreamManager } from '@nats-io/jetstream';
import { labels, streams } from '../../api/names.ts';
import type { Logger } from '../../common/logging.ts';
import type { UpdateOutcome } from '../ledger/taskLedger.ts';
import { podEnded, podRestarts } from '../reconcile/podState.ts';
import { dispatchTasks, type Dispatch } from './dispatcher.ts';
import type { JobChannels } from './jobChannels.ts';

/** The job's source worker pods as the API shows them now. */
export type SourcePods = () => Promise<k8s.V1Pod[]>;

export function sourcePodsOf(core: k8s.CoreV1Api, namespace: string, jobUid: string): SourcePods {
  const labelSelector = `${labels.jobUid}=${jobUid},${labels.role}=source`;
  return async () => (await core.listNamespacedPod({ namespace, labelSelector })).items;
}

/**
 * Whether `worker` is known to be dead by `pods` (its slots): a pod that ended, or any
 * name a slot had before its newest pod (a replaced pod is gone or going; a
 * terminating one still listed hands its tasks back itself, so it is not taken).
 */
export function workerIsDead(pods: readonly k8s.V1Pod[], worker: string): boolean {
  const self = pods.find((p) => p.metadata?.name === worker);
  if (self) return podEnded(self);
  // Gone from the API: dead only if its slot has moved on to a later pod (names end in `-<restarts>`).
  const match = /^(.*)-(\d+)$/.exec(worker);
  if (!match) return false;
  const [, slotPrefix, restarts] = match;
  return pods.some(
    (p) =>
      p.metadata?.labels?.[labels.slot] !== undefined &&
      p.metadata.name === `${slotPrefix}-${podRestarts(p)}` &&
      podRestarts(p) > Number(restarts),
  );
}

export class DeadWorkerTasks {
  private readonly job: JobChannels;
  private readonly jsm: JetStreamManager;
  private readonly epoch: number;
  private readonly pods: SourcePods;
  private readonly log: Logger;
  private readonly everyMs: number;
  /** Tasks whose latest status this engine recorded is RUNNING. */
  private readonly running = new Set<string>();
  private nextAt = 0;

  constructor(
    job: JobChannels,
    jsm: JetStreamManager,
    epoch: number,
    pods: SourcePods,
    log: Logger,
    everyMs = 2_000,
  ) {
    this.job = job;
    this.jsm = jsm;
    this.epoch = epoch;
    this.pods = pods;
    this.log = log;
    this.everyMs = everyMs;
  }

  /** Follows the statuses just recorded: which tasks are in a worker's hands. */
  observe(outcomes: readonly UpdateOutcome[]): void {
    for (const o of outcomes) {
      if (!o.apply) continue;
      if (o.state === 'RUNNING') this.running.add(o.taskId);
      else this.running.delete(o.taskId);
    }
  }

  /**
   * At most every `everyMs`, with tasks in the workers' hands: sends again,
   * as their next attempt, the RUNNING tasks whose worker is dead. Returns how
   * many were sent.
   */
  async resend(): Promise<number> {
    if (this.running.size === 0 || Date.now() < this.nextAt) return 0;
    this.nextAt = Date.now() + this.everyMs;
    let pods: k8s.V1Pod[];
    try {
      pods = await this.pods();
    } catch (err) {
      // Not an engine failure: without the pods the ack-wait still brings these tasks back, later.
      this.log.warn('could not list the source workers to find dead ones', { error: String(err) });
      return 0;
    }
    const dispatches: Dispatch[] = [];
    const from = new Set<string>();
    const heldMessages: number[] = [];
    for (const taskId of [...this.running]) {
      const record = await this.job.ledger.task(taskId);
      if (!record || record.state !== 'RUNNING') {
        this.running.delete(taskId);
        continue;
      }
      if (record.epoch !== this.epoch || !record.worker || !workerIsDead(pods, record.worker)) continue;
      const task = await this.job.ledger.definition(taskId);
      if (!task) continue; // the retry rounds and resume deal with a lost definition
      dispatches.push({ task, epoch: this.epoch, attempt: record.attempt + 1 });
      from.add(record.worker);
      if (record.taskSeq !== undefined) heldMessages.push(record.taskSeq);
      this.running.delete(taskId);
    }
    if (dispatches.length === 0) return 0;
    const sent = (await dispatchTasks(this.job, dispatches)).filter((o) => o.apply).length;
    const removed = await this.removeMessages(heldMessages);
    this.log.info('tasks held by dead workers sent again', {
      tasks: sent,
      workers: [...from],
      removedMessages: removed,
    });
    return sent;
  }

  /**
   * Removes the task messages dead workers held, after their tasks went out
   * anew (a removal that fails costs a second run of the task, not a loss).
   * Returns how many were removed.
   */
  private async removeMessages(seqs: readonly number[]): Promise<number> {
    let removed = 0;
    for (const seq of seqs) {
      try {
        if (await this.jsm.streams.deleteMessage(streams.tasks, seq, false)) removed++;
      } catch (err) {
        // Already gone (acknowledged meanwhile) or NATS away: JetStream's redelivery is then judged stale.
        this.log.debug('could not remove a dead worker’s task message', { seq, error: String(err) });
      }
    }
    return removed;
  }
}
