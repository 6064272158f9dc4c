// The task engine of one running job, driven by the leader, in phases:
// 1. start an epoch — resumeJob (resume/resumeJob.ts): every start after the
//    first is a resume, sending again only what the ledger does not hold as
//    SUCCEEDED;
// 2. plan while copying (once per job): each recorded step's copies go out at
//    once, planning a window ahead of their statuses (ADR 0011, 0017);
// 3. send after plan: what the complete plan leaves to do (resume/sendAfterPlan.ts);
// 4. run to completion: ingest status until every task succeeded or the job
//    cannot go on.
// Phases 2 and 4 wait in one status loop (statusLoop.ts). The progress snapshot,
// read from the ledger, is what the job's status shows; the controller owns the
// status write. status.resumes (epoch − 2) counts the starts after the first;
// an outage of a store, etcd or NATS is waited out in the same engine (and
// shown as the job's Degraded condition), not counted as a resume (ADR 0030).
import type * as k8s from '@kubernetes/client-node';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Etcd3 } from 'etcd3';
import type { ReplicationJob } from '../../api/v1alpha1/index.ts';
import type { Logger } from '../../common/logging.ts';
import { DeadWorkerTasks, sourcePodsOf } from '../dispatch/deadWorkerTasks.ts';
import { DeliveryWatch } from '../dispatch/deliveryWatch.ts';
import type { JobChannels } from '../dispatch/jobChannels.ts';
import type { ConsumerSettings } from '../dispatch/streams.ts';
import { TaskLedger, type JobRecord } from '../ledger/taskLedger.ts';
import { DeletesRefused } from '../planner/deletePrePass.ts';
import { listingFailure } from '../planner/storeListing.ts';
import { taskId } from '../planner/taskPlanner.ts';
import { defaultPlanAheadTasks } from '../config.ts';
import { resumeJob, type ResumedJob } from '../resume/resumeJob.ts';
import { retryPolicyOf } from '../resume/retryPolicy.ts';
import { sendAfterPlan, type AfterPlan } from '../resume/sendAfterPlan.ts';
import { CopyingWhilePlanning, PlanningStopped } from './copyingWhilePlanning.ts';
import type { EngineProgress } from './engineProgress.ts';
import { writeFailureReport } from './failureReport.ts';
import { outageOf } from './outage.ts';
import { OutageRide } from './outageRide.ts';
import { planJob } from './planJob.ts';
import { PlanningWindow } from './planningWindow.ts';
import { RunToCompletion } from './runToCompletion.ts';
import { idleCheckMs, runStatusLoop, type StatusLoop } from './statusLoop.ts';

export type { EngineProgress } from './engineProgress.ts';

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

/** A plan step's copies could not all be sent: its tasks are recorded, so planning again would skip them. */
class StepNotSent extends Error {
  constructor(cause: unknown) {
    super(`a plan step's copies could not be sent: ${String(cause)}`, { cause });
  }
}

function sendingFailed(err: unknown): never {
  throw err instanceof PlanningStopped ? err : new StepNotSent(err);
}

/** What the started epoch hands the later phases. */
interface Started {
  resumed: ResumedJob;
  loop: StatusLoop;
  /** Holds the copies the resume re-sent, when planning is to go on. */
  window: PlanningWindow;
}

export class JobEngine {
  progress: EngineProgress = { phase: 'planning', epoch: 0 };
  private stopped = false;
  private done: Promise<void> | undefined;
  /** Aborted by stop(): ends a listing that waits for its worker. */
  private readonly stopping = new AbortController();
  private readonly job: ReplicationJob;
  private readonly deps: EngineDeps;
  /** One for the engine's life: an outage is one outage across planning and the status loop. */
  private readonly outage: OutageRide;

  constructor(job: ReplicationJob, deps: EngineDeps) {
    this.job = job;
    this.deps = deps;
    this.outage = new OutageRide(deps.log, (outage) => this.update({ outage }));
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
    const nc = await this.deps.nats();
    const jsm = await jetstreamManager(nc);
    const uid = this.job.metadata!.uid!;
    const job: JobChannels = { jobUid: uid, ledger: new TaskLedger(this.deps.etcd, uid), js: jetstream(nc) };
    const started = await this.startThroughOutages(job, jsm);
    const afterPlan = started.resumed.afterPlan ?? (await this.planWhileCopying(job, started));
    if (afterPlan === undefined || !(await this.reportAfterPlan(job, afterPlan))) return;
    await this.runToCompletion(job, started);
  }

  /**
   * Phase 1, waiting out an outage of etcd or NATS at the start (the ledger
   * out of space included) instead of ending the engine and starting it
   * again every few seconds. A start that failed after opening its epoch
   * opens another: that one counts as a resume.
   */
  private async startThroughOutages(job: JobChannels, jsm: JetStreamManager): Promise<Started> {
    for (;;) {
      try {
        const started = await this.startEpoch(job, jsm);
        this.outage.ok();
        return started;
      } catch (err) {
        if (this.stopped || outageOf(err) === undefined) throw err;
        await this.outage.failed(err);
      }
    }
  }

  /** Phase 1: the resume (its first start aside, where it finds nothing to take over). */
  private async startEpoch(job: JobChannels, jsm: JetStreamManager): Promise<Started> {
    const { log, consumers } = this.deps;
    const window = new PlanningWindow(this.deps.planAheadTasks ?? defaultPlanAheadTasks);
    const resumed = await resumeJob(job, jsm, {
      spec: this.job.spec,
      consumers,
      log,
      onResent: (tasks) => window.sent(tasks),
    });
    this.update({ epoch: resumed.epoch });
    const loop: StatusLoop = {
      ingestor: resumed.ingestor,
      delivery: new DeliveryWatch(jsm, job.jobUid, idleCheckMs),
      deadWorkerTasks: new DeadWorkerTasks(
        job,
        jsm,
        resumed.epoch,
        sourcePodsOf(this.deps.core, this.job.metadata!.namespace!, job.jobUid),
        log,
      ),
      outage: this.outage,
      stopped: () => this.stopped,
    };
    return { resumed, loop, window };
  }

  /**
   * Phase 2, then 3: plans the job into the ledger, sending each step's copies
   * (not deletes: those wait for the whole plan and every copy; a dry run sends
   * nothing), then sends what the complete plan leaves. Undefined when the job
   * failed while planning (reported).
   */
  private async planWhileCopying(job: JobChannels, started: Started): Promise<AfterPlan | undefined> {
    const { log } = this.deps;
    const { spec } = this.job;
    const { epoch, record } = started.resumed;
    const copying = new CopyingWhilePlanning(
      job,
      started.window,
      { epoch, policy: retryPolicyOf(spec.retry), log },
      started.loop,
      (summary) => this.update({ summary }),
    );
    const plan = (from: typeof record) =>
      planJob(this.job, job.ledger, from, {
        listing: { core: this.deps.core, nats: this.deps.nats, signal: this.stopping.signal },
        log,
        stopped: () => this.stopped,
        onStep: async (tasks, totals) => {
          this.update({ totals });
          if (!spec.deletion?.dryRun) await copying.sendStep(tasks).catch(sendingFailed);
        },
      });
    try {
      await this.planThroughOutages(job, record, plan);
    } catch (err) {
      if (err instanceof PlanningStopped) {
        this.update({ phase: 'failed', summary: err.summary, failure: err.failure });
        return undefined;
      }
      if (err instanceof DeletesRefused) {
        this.update({ phase: 'failed', failure: err.failure }); // judged before the first copy (ADR 0035)
        return undefined;
      }
      const failure = listingFailure(err); // a listing that failed is never taken for a complete one
      if (!failure) throw err instanceof StepNotSent ? err.cause : err;
      this.update({ phase: 'failed', failure });
      return undefined;
    }
    return sendAfterPlan(job, (await job.ledger.job())!.record, { spec, epoch, log });
  }

  /**
   * Plans, and while a store or the ledger is out of reach, waits and plans
   * again from the last checkpoint, in this epoch: the tasks of a step cut
   * short were never sent (a step's copies go out after its commit), so they
   * are dropped and planned again, as a resume would, without its new epoch.
   * A step whose copies could not all be sent is not planned again (its
   * tasks are recorded): that error ends the engine, and the resume sends them.
   */
  private async planThroughOutages(
    job: JobChannels,
    record: JobRecord,
    plan: (from: JobRecord) => Promise<void>,
  ): Promise<void> {
    for (let from = record; ;) {
      try {
        await plan(from);
        this.outage.ok();
        return;
      } catch (err) {
        if (err instanceof PlanningStopped || err instanceof StepNotSent || err instanceof DeletesRefused)
          throw err;
        if (listingFailure(err)) throw err;
        if (this.stopped || outageOf(err) === undefined) throw err;
        await this.outage.failed(err);
        from = await this.checkpointAfterOutage(job);
      }
    }
  }

  /** The plan's checkpoint once the ledger answers again, the tasks past it dropped. */
  private async checkpointAfterOutage(job: JobChannels): Promise<JobRecord> {
    for (;;) {
      try {
        const { record } = (await job.ledger.job())!;
        await job.ledger.dropUncheckpointedTasks(record.checkpoint.tasks, taskId);
        return record;
      } catch (err) {
        if (this.stopped || outageOf(err) === undefined) throw err;
        await this.outage.failed(err);
      }
    }
  }

  /** Phase 3's outcome, for the job's status: whether there is anything left to run. */
  private async reportAfterPlan(job: JobChannels, afterPlan: AfterPlan): Promise<boolean> {
    const { totals } = afterPlan;
    switch (afterPlan.kind) {
      case 'deletesRefused':
        this.update({ phase: 'failed', totals, failure: afterPlan.failure });
        return false;
      case 'dryRun':
        this.update({ phase: 'succeeded', totals, summary: await job.ledger.summarize() });
        return false;
      case 'sent':
        this.update({ phase: 'running', totals, summary: await job.ledger.summarize() });
        return true;
    }
  }

  /**
   * Phase 4: ingests status and re-sends retryable failures once their
   * back-off passed, until the job succeeded or failed; rides through NATS and
   * etcd outages, and ends the engine (a resume follows) when JetStream lost
   * the tasks in flight (ADR 0008).
   */
  private async runToCompletion(job: JobChannels, started: Started): Promise<void> {
    const { epoch } = started.resumed;
    const phase = new RunToCompletion(
      job,
      { epoch, policy: retryPolicyOf(this.job.spec.retry), log: this.deps.log },
      (summary) => this.update({ summary }),
    );
    const finished = await runStatusLoop(started.loop, phase);
    if (finished?.phase === 'failed')
      finished.failureReport = await writeFailureReport(this.deps.core, this.job, job.ledger, this.deps.log);
    if (finished) this.update(finished);
  }
}
