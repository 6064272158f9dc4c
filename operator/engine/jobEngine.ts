// The task engine of one running job, driven by the leader: plan the job into
// the ledger (once), sending each planned step's copies as soon as the step is
// recorded, send the incomplete tasks (resume), then ingest status
// until every task succeeded or the job cannot go on. Its progress snapshot,
// read from the ledger, is what the job's status shows; the controller owns
// the status write.
//
// Every start of an engine after its first is a resume: a new epoch, and only
// what the ledger does not hold as SUCCEEDED is sent again — after an operator
// restart, a leader change, a recovery, or a user's retry. So status.resumes,
// epoch − 2, counts those and nothing else: retry rounds keep the epoch.
import type * as k8s from '@kubernetes/client-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'winston';
import type { Etcd3 } from 'etcd3';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReplicationJob } from '../../api/v1alpha1/index.ts';
import { statusConsumerName, type PlannedTask } from '../../api/tasks.ts';
import { streams } from '../../api/names.ts';
import { DeliveryWatch, LostStreamError } from '../dispatch/deliveryWatch.ts';
import { dispatchPlannedCopies } from '../dispatch/dispatcher.ts';
import { StatusIngestor } from '../dispatch/statusIngest.ts';
import { ensureStreams, type ConsumerSettings } from '../dispatch/streams.ts';
import { TaskLedger, type JobRecord, type LedgerSummary, type UpdateOutcome } from '../ledger/taskLedger.ts';
import { judgeDeletes } from '../planner/deleteSafety.ts';
import { compileFilters } from '../planner/filters.ts';
import { listingFailure, mergeStoreListings, openStoreListing } from '../planner/storeListing.ts';
import {
  defaultStepSettings,
  emptyTotals,
  planInSteps,
  taskId,
  type PlanTotals,
} from '../planner/taskPlanner.ts';
import { retryChosenTasks, sendIncompleteTasks } from '../resume/resumeIncompleteTasks.ts';
import { retryPolicyOf, type RetryPolicy } from '../resume/retryPolicy.ts';
import { drainStatus, takeOverJobQueues } from '../resume/takeOver.ts';
import { OutageRide } from './outageRide.ts';
import { PlanningWindow } from './planningWindow.ts';
import { defaultPlanAheadTasks } from '../config.ts';

/** Retry rounds (a scan of the ledger) run at most this often. */
const roundIntervalMs = 1_000;
/** With no status arriving, the ledger is still looked at this often. */
const idleCheckMs = 5_000;

/** The ledger summary (status counters, completion) is read at most this often relative to its cost. */
const summaryCostFactor = 10;

export interface EngineProgress {
  phase: 'planning' | 'running' | 'succeeded' | 'failed';
  epoch: number;
  totals?: PlanTotals;
  summary?: LedgerSummary;
  failure?: { reason: string; message: string };
}

/** What the engine needs to keep copying in step with planning (planningWindow.ts). */
interface CopyingWhilePlanning {
  window: PlanningWindow;
  ingestor: StatusIngestor;
  ledger: TaskLedger;
  delivery: DeliveryWatch;
  js: JetStreamClient;
  uid: string;
  epoch: number;
  policy: RetryPolicy;
  outage: OutageRide;
}

/** Planning stopped because more copies were given up than it may run ahead of: the job fails. */
class PlanningStopped extends Error {
  readonly summary: LedgerSummary;
  readonly failure: { reason: string; message: string };

  private constructor(summary: LedgerSummary, failure: { reason: string; message: string }) {
    super(failure.message);
    this.summary = summary;
    this.failure = failure;
  }

  static async after(c: CopyingWhilePlanning): Promise<PlanningStopped> {
    const summary = await c.ledger.summarize();
    const keys = summary.failedKeys.slice(0, 5).join(', ');
    const cause = summary.lastError ? ` (${summary.lastError.message})` : '';
    return new PlanningStopped(summary, {
      reason: 'TasksFailed',
      message: `${summary.objectsFailed} objects failed: ${keys}${cause}; planning stopped after ${c.window.givenUp} copies were given up (more than the ${c.window.limit} it may run ahead), and goes on after a retry request`,
    });
  }
}

export interface EngineDeps {
  etcd: Etcd3;
  nats: () => Promise<NatsConnection>;
  core: k8s.CoreV1Api;
  log: Logger;
  onProgress: () => void;
  /** The job's consumers' settings (task ack-wait, max-deliver). */
  consumers?: ConsumerSettings;
  /** Copies planning may have sent ahead of their statuses (planningWindow.ts). */
  planAheadTasks?: number;
}

export class JobEngine {
  progress: EngineProgress = { phase: 'planning', epoch: 0 };
  private stopped = false;
  private done: Promise<void> | undefined;
  /** When the job's progress is next summarized while planning. */
  private nextPlanningSummaryAt = 0;
  /** Aborted by stop(): ends a listing that waits for its worker. */
  private readonly stopping = new AbortController();
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
    await ledger.ensureJob();
    await ensureStreams(jsm);

    // Every start of an engine is a resume (its first start aside): take over
    // the job's queues, record what the workers reported meanwhile, then open
    // a new epoch that fences off anything older.
    const { purgedTasks } = await takeOverJobQueues(jsm, uid, this.deps.consumers);
    const consumer = await js.consumers.get(streams.status, statusConsumerName(uid));
    const ingestor = new StatusIngestor(consumer, ledger, uid, log);
    const drained = await drainStatus(consumer, ingestor);
    const epoch = await ledger.openEpoch();
    log.info('task engine started', { epoch, purgedTasks, drainedStatus: drained });
    this.update({ epoch });

    let record = (await ledger.job())!.record;
    const delivery = new DeliveryWatch(jsm, uid, idleCheckMs);
    const policy = retryPolicyOf(spec.retry);
    if (!record.planComplete) {
      try {
        // Copies go out as they are planned (not deletes: those wait for the
        // whole plan and every copy); a dry run sends nothing. Planning stays
        // a window ahead of the copies, whose statuses are recorded meanwhile.
        const copying: CopyingWhilePlanning = {
          window: new PlanningWindow(this.deps.planAheadTasks ?? defaultPlanAheadTasks),
          ...{ ingestor, ledger, delivery, js, uid, epoch, policy },
          outage: new OutageRide(log),
        };
        // Tasks an interrupted step recorded past the checkpoint are planned
        // again (never sent: a step's copies go out after its commit), so
        // they go first, before anything below reads the ledger's tasks.
        await ledger.dropUncheckpointedTasks(record.checkpoint.tasks, taskId);
        let dispatchCopies: ((tasks: PlannedTask[]) => Promise<void>) | undefined;
        if (!spec.deletion?.dryRun) {
          // A plan resumed part-way: the copies it recorded and did not finish
          // go out again now, inside the window, rather than after the rest of
          // a plan that may take as long as the copying.
          if (record.checkpoint.tasks > 0)
            await sendIncompleteTasks(ledger, js, uid, {
              epoch,
              resume: true,
              retryFailed: false,
              policy,
              log,
              planComplete: false,
              onSent: (tasks) => copying.window.sent(tasks),
            });
          dispatchCopies = async (tasks) => {
            await dispatchPlannedCopies(js, ledger, uid, epoch, tasks, log);
            copying.window.sent(tasks);
            await this.keepPlanningWithinWindow(copying);
          };
        }
        await this.plan(ledger, record, dispatchCopies);
      } catch (err) {
        if (err instanceof PlanningStopped) {
          this.update({ phase: 'failed', summary: err.summary, failure: err.failure });
          return;
        }
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
    // A retry request not yet acted on re-sends the tasks given up, once.
    const retryRequest =
      spec.retryRequest !== undefined && spec.retryRequest !== record.retryRequest
        ? spec.retryRequest
        : undefined;
    const resume = await sendIncompleteTasks(ledger, js, uid, {
      epoch,
      resume: true,
      retryFailed: retryRequest !== undefined,
      policy,
      log,
    });
    if (retryRequest !== undefined) await ledger.recordRetry(retryRequest);
    log.info('tasks sent', {
      epoch,
      resent: resume.resent,
      succeeded: resume.succeeded,
      failed: resume.failed.length,
      ...(retryRequest !== undefined ? { retryRequest } : {}),
    });
    this.update({ phase: 'running', totals, summary: await ledger.summarize() });

    // Ingest status; re-send retryable failures once their back-off passed.
    // Now and then make sure JetStream still holds the tasks in flight; ride
    // through NATS and etcd outages rather than resume (see ADR 0008).
    let roundWanted = false;
    let nextRoundAt = 0;
    let idleCheckAt = 0;
    const outage = new OutageRide(log);
    let nextSummaryAt = 0;
    // Statuses ingested since the last summary: one is owed, even when the
    // spacing below holds it back past the batch that brought them (the last
    // statuses of a job would otherwise wait for the idle check to show).
    let summaryOwed = false;
    while (!this.stopped) {
      try {
        // A summary owed and due sooner than a pull for statuses could end (a
        // pull waits up to 1 s when none come): wait for the summary instead.
        const owedInMs: number = summaryOwed ? nextSummaryAt - Date.now() : Infinity;
        const outcomes: UpdateOutcome[] =
          owedInMs < 1_000
            ? (await sleep(Math.max(0, owedInMs)), [])
            : await ingestor.ingestBatch(512, 1_000);
        const lost = await delivery.nothingInTransit();
        outage.ok();
        const now = Date.now();
        summaryOwed ||= outcomes.length > 0;
        if (!summaryOwed && !lost && now < idleCheckAt && !(roundWanted && now >= nextRoundAt)) continue;
        // Reading the whole ledger costs O(tasks): at a hundred million objects
        // it must not run after every batch. Spaced to ten times its own cost,
        // it takes at most a tenth of the engine's time; ingestion (the etcd
        // commit of every status) does not wait for it.
        if (now < nextSummaryAt && !lost) continue;
        idleCheckAt = now + idleCheckMs;
        const summary = await ledger.summarize();
        summaryOwed = false;
        nextSummaryAt = Date.now() + summaryCostFactor * (Date.now() - now);
        const t = summary.tasks;
        // In the workers' hands; PENDING tasks are held deletes.
        const inFlight = t.DISPATCHED + t.RUNNING;
        const total = t.PENDING + inFlight + t.SUCCEEDED + t.FAILED;
        if (t.SUCCEEDED === total) {
          this.update({ phase: 'succeeded', summary });
          return;
        }
        if (lost && inFlight > 0) {
          // A resume (a new engine) re-sends them, in a new epoch.
          throw new LostStreamError(
            `JetStream holds none of the ${inFlight} tasks in flight: they were lost`,
          );
        }
        roundWanted = t.FAILED + t.PENDING > 0;
        if (roundWanted && now >= nextRoundAt) {
          const round = await sendIncompleteTasks(ledger, js, uid, {
            epoch,
            resume: false,
            retryFailed: false,
            policy,
            now,
            log,
          });
          nextRoundAt = Math.max(now + roundIntervalMs, round.nextDueAt ?? 0);
          if (inFlight === 0 && round.resent === 0 && round.waiting === 0) {
            const message = `${summary.objectsFailed} objects failed: ${summary.failedKeys.slice(0, 5).join(', ')}${summary.lastError ? ` (${summary.lastError.message})` : ''}`;
            this.update({ phase: 'failed', summary, failure: { reason: 'TasksFailed', message } });
            return;
          }
        }
        this.update({ summary });
      } catch (err) {
        await outage.failed(err); // rethrows a lost stream (a resume re-creates it) or a long outage
      }
    }
  }

  /**
   * Records statuses until no more than the window's limit of the copies sent
   * while planning are open, sending failed ones again after their back-off,
   * and keeps the job's progress current (a large job plans for as long as it
   * copies). Rides through NATS and etcd outages as the engine does after
   * planning (ADR 0008). Copies the workers can no longer finish (their
   * messages lost) end the engine: the resume re-sends them. More copies given
   * up than the window holds stop planning, and the job fails: a job whose
   * every copy fails should say so, not plan on.
   */
  private async keepPlanningWithinWindow(c: CopyingWhilePlanning): Promise<void> {
    let nextRetryAt = 0;
    // Also when too many were given up: a failed attempt to stop (an etcd error reading the
    // summary) must not let planning go on because giving up freed the window.
    while (c.window.full || c.window.givenUp > c.window.limit) {
      if (this.stopped) throw new Error('stopped while planning');
      try {
        if (c.window.givenUp > c.window.limit) throw await PlanningStopped.after(c);
        c.window.recorded(await c.ingestor.ingestBatch(512, 1_000));
        const now = Date.now();
        if (c.window.failed.size > 0 && now >= nextRetryAt) {
          const round = await retryChosenTasks(c.ledger, c.js, c.uid, [...c.window.failed], {
            epoch: c.epoch,
            policy: c.policy,
            now,
          });
          c.window.retried(round);
          nextRetryAt = Math.max(now + roundIntervalMs, round.nextDueAt ?? 0);
          continue;
        }
        // Failed copies backing off are held here, not in JetStream.
        const inJetStream = c.window.inFlight - c.window.failed.size;
        if (c.window.full && (await c.delivery.nothingInTransit()) && inJetStream > 0)
          throw new LostStreamError(
            `JetStream holds none of the ${inJetStream} copies sent while planning that are still open: they were lost`,
          );
        await this.summarizeWhenDue(c.ledger);
        c.outage.ok();
      } catch (err) {
        if (err instanceof PlanningStopped) throw err;
        await c.outage.failed(err); // rethrows a lost stream (a resume re-creates it) or a long outage
      }
    }
    // Progress is for display: a failed summary waits for the next step, it does not end the engine.
    await this.summarizeWhenDue(c.ledger).catch((err: unknown) =>
      this.deps.log.warn('could not summarize the progress while planning', { error: String(err) }),
    );
  }

  /** The job's progress while planning, spaced like the running engine's summaries. */
  private async summarizeWhenDue(ledger: TaskLedger): Promise<void> {
    const now = Date.now();
    if (now < this.nextPlanningSummaryAt) return;
    this.update({ summary: await ledger.summarize() });
    this.nextPlanningSummaryAt = Date.now() + Math.max(idleCheckMs, summaryCostFactor * (Date.now() - now));
  }

  /**
   * Plans the job into the ledger in steps, each recorded with a checkpoint;
   * a plan interrupted (operator killed, leader change) resumes after the
   * checkpoint's key, with its running totals and task positions, so task ids
   * stay the plan positions and nothing is planned twice.
   */
  private async plan(
    ledger: TaskLedger,
    record: JobRecord,
    dispatchCopies?: (tasks: PlannedTask[]) => Promise<void>,
  ): Promise<void> {
    const { spec } = this.job;
    const { log } = this.deps;
    const { checkpoint } = record;
    // (Tasks an interrupted step recorded beyond the checkpoint were dropped by run().)
    const after = checkpoint.sourceAfter;
    const totals = checkpoint.totals ? { ...checkpoint.totals } : emptyTotals();
    if (totals.tasks !== checkpoint.tasks)
      throw new Error(
        `the plan checkpoint is inconsistent: ${checkpoint.tasks} tasks recorded but totals count ${totals.tasks}`,
      );
    if (after !== undefined)
      log.info('planning resumed from the checkpoint', { after, tasks: checkpoint.tasks });
    const context = {
      core: this.deps.core,
      nats: this.deps.nats,
      signal: this.stopping.signal,
      log: (message: string, meta?: Record<string, unknown>) => log.info(message, meta),
    };
    const source = await openStoreListing(this.job, 'source', context);
    const destination = await openStoreListing(this.job, 'destination', context);
    try {
      const steps = planInSteps(
        mergeStoreListings(source, destination, {
          sourceAfter: after,
          destinationAfter: checkpoint.destinationAfter,
        }),
        {
          mode: spec.mode ?? 'Copy',
          maxObjects: spec.tasks?.maxObjects ?? 1000,
          maxBytes: spec.tasks?.maxBytes ?? 64 * 1024 * 1024,
          partSize: spec.tasks?.partSize ?? 64 * 1024 * 1024,
          inScope: compileFilters(spec.filters),
        },
        totals,
        after === undefined ? defaultStepSettings : { ...defaultStepSettings, firstStep: undefined },
      );
      for await (const step of steps) {
        if (this.stopped) throw new Error('stopped while planning');
        await ledger.recordPlan(
          step.tasks,
          {
            ...(step.after !== undefined ? { sourceAfter: step.after, destinationAfter: step.after } : {}),
            totals: step.totals,
          },
          step.done,
          step.done ? step.totals : undefined,
        );
        log.debug('plan checkpoint recorded', {
          tasks: step.totals.tasks,
          after: step.after,
          done: step.done,
        });
        this.update({ totals: step.totals });
        // After the step's commit: a task is in the ledger before its message exists.
        await dispatchCopies?.(step.tasks);
      }
    } finally {
      await source.close();
      await destination.close();
    }
  }
}
