// The engine's last phase: the whole plan is sent; statuses are recorded
// until every task succeeded, or nothing is left that could still succeed
// (the job fails, naming what failed). Retryable failures are sent again once
// their back-off has passed, in the same epoch (ADR 0007).
import type { Logger } from '../../common/logging.ts';
import type { JobChannels } from '../dispatch/jobChannels.ts';
import type { LedgerSummary } from '../ledger/taskLedger.ts';
import type { RetryPolicy } from '../resume/retryPolicy.ts';
import { sendIncompleteTasks } from '../resume/sendIncompleteTasks.ts';
import { tasksFailed, type EngineProgress } from './engineProgress.ts';
import {
  idleCheckMs,
  LedgerSummaries,
  lostInFlight,
  RetryRounds,
  type LoopPass,
  type LoopPhase,
} from './statusLoop.ts';

export type Finished = Pick<EngineProgress, 'phase' | 'summary' | 'failure' | 'failureReport'>;

export class RunToCompletion implements LoopPhase<Finished> {
  private readonly job: JobChannels;
  private readonly settings: { epoch: number; policy: RetryPolicy; log: Logger };
  private readonly report: (summary: LedgerSummary) => void;
  private readonly summaries: LedgerSummaries;
  private readonly rounds = new RetryRounds();
  private roundWanted = false;
  private idleCheckAt = 0;
  /**
   * Statuses ingested since the last summary: one is owed, even when the
   * spacing holds it back past the batch that brought them (the last statuses
   * of a job would otherwise wait for the idle check to show).
   */
  private summaryOwed = false;

  /** `report`: the progress read, for the job's status. */
  constructor(
    job: JobChannels,
    settings: { epoch: number; policy: RetryPolicy; log: Logger },
    report: (summary: LedgerSummary) => void,
  ) {
    this.job = job;
    this.settings = settings;
    this.report = report;
    this.summaries = new LedgerSummaries(job.ledger);
  }

  summaryDueInMs(): number {
    return this.summaryOwed ? this.summaries.dueInMs() : Infinity;
  }

  async pass({ outcomes, lost }: LoopPass): Promise<Finished | undefined> {
    const now = Date.now();
    this.summaryOwed ||= outcomes.length > 0;
    const roundDue = this.roundWanted && this.rounds.due(now);
    if (!this.summaryOwed && !lost && now < this.idleCheckAt && !roundDue) return undefined;
    if (this.summaries.dueInMs(now) > 0 && !lost) return undefined;
    this.idleCheckAt = now + idleCheckMs;
    const summary = await this.summaries.read();
    this.summaryOwed = false;
    const t = summary.tasks;
    // In the workers' hands; PENDING tasks are held deletes.
    const inFlight = t.DISPATCHED + t.RUNNING;
    if (t.SUCCEEDED === t.PENDING + inFlight + t.SUCCEEDED + t.FAILED) return { phase: 'succeeded', summary };
    if (lost && inFlight > 0) throw lostInFlight(inFlight, 'tasks in flight');
    this.roundWanted = t.FAILED + t.PENDING > 0;
    if (this.roundWanted && this.rounds.due(now)) {
      const round = await sendIncompleteTasks(this.job, {
        ...this.settings,
        resume: false,
        retryFailed: false,
        now,
      });
      this.rounds.ran(now, round.nextDueAt);
      if (inFlight === 0 && round.resent === 0 && round.waiting === 0)
        return { phase: 'failed', summary, failure: tasksFailed(summary) };
    }
    this.report(summary);
    return undefined;
  }
}
