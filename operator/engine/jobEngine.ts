// The task engine of one running job, driven by the leader: plan the job into
// the ledger (once), send the incomplete tasks (resume), then ingest status
// until every task succeeded or the job cannot go on. Its progress snapshot,
// read from the ledger, is what the job's status shows; the controller owns
// the status write.
//
// Every start of an engine is a resume: a new epoch, and only what the ledger
// does not hold as SUCCEEDED is sent again — after an operator restart, a
// leader change, or a retry.
import type * as k8s from '@kubernetes/client-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'winston';
import type { Etcd3 } from 'etcd3';
import type { ReplicationJob } from '../../api/v1alpha1/index.ts';
import { statusConsumerName } from '../../api/tasks.ts';
import { streams } from '../../api/names.ts';
import { DeliveryWatch, isLostStream } from '../dispatch/deliveryWatch.ts';
import { StatusIngestor } from '../dispatch/statusIngest.ts';
import { ensureJobConsumers, ensureStreams, type ConsumerSettings } from '../dispatch/streams.ts';
import { TaskLedger, type LedgerSummary } from '../ledger/taskLedger.ts';
import { judgeDeletes } from '../planner/deleteSafety.ts';
import { compileFilters } from '../planner/filters.ts';
import { mergeListings } from '../planner/listingMerge.ts';
import { listingFailure, openStoreListing } from '../planner/storeListing.ts';
import { emptyTotals, planTasks, type PlannedTask, type PlanTotals } from '../planner/taskPlanner.ts';
import { resumeIncompleteTasks } from '../resume/resumeIncompleteTasks.ts';
import { OutageRide } from './outageRide.ts';

export interface EngineProgress {
  phase: 'planning' | 'running' | 'succeeded' | 'failed';
  epoch: number;
  totals?: PlanTotals;
  summary?: LedgerSummary;
  failure?: { reason: string; message: string };
}

export interface EngineDeps {
  etcd: Etcd3;
  nats: () => Promise<NatsConnection>;
  core: k8s.CoreV1Api;
  log: Logger;
  /** The job's consumers' settings (task ack-wait, max-deliver). */
  consumers?: ConsumerSettings;
  onProgress: () => void;
}

export class JobEngine {
  progress: EngineProgress = { phase: 'planning', epoch: 0 };
  private stopped = false;
  /** Aborted by stop(): ends a listing that waits for its worker. */
  private readonly stopping = new AbortController();
  private done: Promise<void> | undefined;
  private readonly job: ReplicationJob;
  private readonly deps: EngineDeps;

  constructor(job: ReplicationJob, deps: EngineDeps) {
    this.job = job;
    this.deps = deps;
  }

  start(): void {
    this.done = this.run().catch((err: unknown) => {
      // An engine error is not the job's failure: the controller starts a new engine (a resume).
      this.deps.log.error('task engine stopped', { error: String(err) });
      this.stopped = true;
      this.deps.onProgress();
    });
  }

  get running(): boolean {
    return !this.stopped;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    await this.done;
  }

  private update(progress: Partial<EngineProgress>): void {
    this.progress = { ...this.progress, ...progress };
    this.deps.onProgress();
  }

  private async run(): Promise<void> {
    const { etcd, log } = this.deps;
    const nc = await this.deps.nats();
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const uid = this.job.metadata!.uid!;
    const spec = this.job.spec;
    const ledger = new TaskLedger(etcd, uid);
    let record = await ledger.ensureJob();
    await ensureStreams(jsm);
    await ensureJobConsumers(jsm, uid, this.deps.consumers);

    if (!record.planComplete) {
      // Nothing is sent before the plan is complete, so an interrupted plan is simply redone.
      if (record.checkpoint.tasks > 0) {
        await ledger.remove();
        await ledger.ensureJob();
      }
      try {
        await this.plan(ledger);
      } catch (err) {
        const failure = listingFailure(err);
        if (!failure) throw err;
        this.update({ phase: 'failed', failure });
        return;
      }
      record = (await ledger.job())!.record;
    }
    const totals = record.totals ?? emptyTotals();
    const verdict = judgeDeletes(totals, spec.deletion);
    if (!verdict.allowed) {
      this.update({ phase: 'failed', totals, failure: { reason: verdict.reason, message: verdict.message } });
      return;
    }
    if (spec.deletion?.dryRun) {
      this.update({ phase: 'succeeded', totals, summary: await ledger.summarize() });
      return;
    }
    const options = { maxAttempts: spec.retry?.maxAttempts ?? 5, retryFailed: false };
    let resume = await resumeIncompleteTasks(ledger, js, uid, options);
    this.update({ phase: 'running', epoch: resume.epoch, totals, summary: await ledger.summarize() });

    const connectIngestor = async () =>
      new StatusIngestor(await js.consumers.get(streams.status, statusConsumerName(uid)), ledger, uid, log);
    let ingestor: StatusIngestor | undefined = await connectIngestor();
    // Every few seconds: are the tasks the ledger has in flight still in JetStream?
    const delivery = new DeliveryWatch(jsm, uid, 5_000);
    const outage = new OutageRide(log);
    while (!this.stopped) {
      try {
        if (!ingestor) {
          // JetStream lost a stream or consumer of the job: re-create them; the
          // delivery watch then finds which tasks in flight were lost with them.
          await ensureStreams(jsm);
          await ensureJobConsumers(jsm, uid, this.deps.consumers);
          ingestor = await connectIngestor();
          delivery.checkNow();
        }
        const outcomes = await ingestor.ingestBatch(512, 1_000);
        const lost = await delivery.nothingInTransit();
        outage.ok();
        if (outcomes.length === 0 && resume.deletesHeld === 0 && !lost) continue;
        const summary = await ledger.summarize();
        const t = summary.tasks;
        // In the workers' hands; PENDING tasks are held deletes (or not yet re-sent).
        const inFlight = t.DISPATCHED + t.RUNNING;
        const total = t.PENDING + inFlight + t.SUCCEEDED + t.FAILED;
        if (t.SUCCEEDED === total) {
          this.update({ phase: 'succeeded', summary });
          return;
        }
        if (inFlight === 0 || lost) {
          // Nothing running (or what runs is lost): retry what can be retried (and send held deletes), or give up.
          if (lost && inFlight > 0)
            log.warn('tasks in flight were lost by JetStream; re-sending', { inFlight });
          resume = await resumeIncompleteTasks(ledger, js, uid, options);
          if (resume.resent === 0) {
            const message = `${summary.objectsFailed} objects failed: ${summary.failedKeys.slice(0, 5).join(', ')}${summary.lastError ? ` (${summary.lastError.message})` : ''}`;
            this.update({ phase: 'failed', summary, failure: { reason: 'TasksFailed', message } });
            return;
          }
        }
        this.update({ summary, epoch: resume.epoch });
      } catch (err) {
        if (isLostStream(err)) ingestor = undefined; // re-created, with the streams, by the next step
        await outage.failed(err);
      }
    }
  }

  private async plan(ledger: TaskLedger): Promise<void> {
    const { spec } = this.job;
    const context = {
      core: this.deps.core,
      nats: this.deps.nats,
      signal: this.stopping.signal,
      log: (message: string, meta?: Record<string, unknown>) => this.deps.log.info(message, meta),
    };
    const source = await openStoreListing(this.job, 'source', context);
    const destination = await openStoreListing(this.job, 'destination', context);
    try {
      const totals = emptyTotals();
      let batch: PlannedTask[] = [];
      const tasks = planTasks(
        mergeListings(
          source.list('', undefined, { checksums: true }),
          destination.list('', undefined, { checksums: true }),
        ),
        {
          mode: spec.mode ?? 'Copy',
          maxObjects: spec.tasks?.maxObjects ?? 1000,
          maxBytes: spec.tasks?.maxBytes ?? 64 * 1024 * 1024,
          partSize: spec.tasks?.partSize ?? 64 * 1024 * 1024,
          inScope: compileFilters(spec.filters),
        },
        totals,
      );
      for await (const task of tasks) {
        batch.push(task);
        if (batch.length >= 100) {
          await ledger.recordPlan(batch, {});
          batch = [];
        }
        if (this.stopped) throw new Error('stopped while planning');
      }
      await ledger.recordPlan(batch, {}, true, totals);
      this.update({ totals });
    } finally {
      await source.close();
      await destination.close();
    }
  }
}
