// The engine's planning phase keeps copying in step with planning: after each
// plan step's copies are sent, it records statuses until no more than the
// planning window's limit are open (planningWindow.ts, ADR 0017), sending
// failed copies again after their back-off, and keeps the job's progress
// current (a large job plans for as long as it copies). More copies given up
// than the window holds stop planning, and the job fails: a job whose every
// copy fails should say so, not plan on.
import type { Logger } from '../../common/logging.ts';
import { dispatchPlannedCopies } from '../dispatch/dispatcher.ts';
import type { JobChannels } from '../dispatch/jobChannels.ts';
import type { LedgerSummary } from '../ledger/taskLedger.ts';
import type { PlannedTask } from '../../api/tasks.ts';
import type { RetryPolicy } from '../resume/retryPolicy.ts';
import { retryChosenTasks } from '../resume/sendIncompleteTasks.ts';
import { tasksFailed, type EngineFailure } from './engineProgress.ts';
import type { PlanningWindow } from './planningWindow.ts';
import {
  idleCheckMs,
  LedgerSummaries,
  lostInFlight,
  RetryRounds,
  runStatusLoop,
  type LoopPass,
  type LoopPhase,
  type StatusLoop,
} from './statusLoop.ts';

/** Planning stopped because more copies were given up than it may run ahead of: the job fails. */
export class PlanningStopped extends Error {
  readonly summary: LedgerSummary;
  readonly failure: EngineFailure;

  constructor(summary: LedgerSummary, window: PlanningWindow) {
    const failure = tasksFailed(
      summary,
      `; planning stopped after ${window.givenUp} copies were given up (more than the ${window.limit} it may run ahead), and goes on after a retry request`,
    );
    super(failure.message);
    this.summary = summary;
    this.failure = failure;
  }
}

type WindowEnd = 'room' | PlanningStopped;

export interface PlanningSettings {
  epoch: number;
  policy: RetryPolicy;
  log: Logger;
}

export class CopyingWhilePlanning implements LoopPhase<WindowEnd> {
  readonly window: PlanningWindow;
  private readonly job: JobChannels;
  private readonly settings: PlanningSettings;
  private readonly loop: StatusLoop;
  private readonly report: (summary: LedgerSummary) => void;
  private readonly summaries: LedgerSummaries;
  private readonly rounds = new RetryRounds();

  /** `window`: holds what the resume re-sent already; `report`: the progress read, for the job's status. */
  constructor(
    job: JobChannels,
    window: PlanningWindow,
    settings: PlanningSettings,
    loop: StatusLoop,
    report: (summary: LedgerSummary) => void,
  ) {
    this.job = job;
    this.window = window;
    this.settings = settings;
    this.loop = loop;
    this.report = report;
    this.summaries = new LedgerSummaries(job.ledger, idleCheckMs);
  }

  /**
   * Sends a plan step's copies (just recorded: a task is in the ledger before
   * its message exists), then waits while the window is full. Throws
   * PlanningStopped when too many copies were given up, and an error when the
   * engine was stopped.
   */
  async sendStep(tasks: PlannedTask[]): Promise<void> {
    await dispatchPlannedCopies(this.job, this.settings.epoch, tasks, this.settings.log);
    this.window.sent(tasks);
    const end = await runStatusLoop(this.loop, this);
    if (end === undefined) throw new Error('stopped while planning');
    if (end instanceof PlanningStopped) throw end;
    // Progress is for display: a failed summary waits for the next step, it does not end the engine.
    await this.summarizeWhenDue().catch((err: unknown) =>
      this.settings.log.warn('could not summarize the progress while planning', { error: String(err) }),
    );
  }

  settled(): WindowEnd | undefined {
    // Not while too many were given up: a failed attempt to stop (an etcd error reading the
    // summary) must not let planning go on because giving up freed the window.
    return this.window.full || this.tooManyGivenUp() ? undefined : 'room';
  }

  async pass({ outcomes, lost }: LoopPass): Promise<WindowEnd | undefined> {
    if (this.tooManyGivenUp()) return new PlanningStopped(await this.job.ledger.summarize(), this.window);
    this.window.recorded(outcomes);
    const now = Date.now();
    if (this.window.failed.size > 0 && this.rounds.due(now)) {
      const { epoch, policy } = this.settings;
      const round = await retryChosenTasks(this.job, [...this.window.failed], { epoch, policy, now });
      this.window.retried(round);
      this.rounds.ran(now, round.nextDueAt);
      return undefined;
    }
    // Failed copies backing off are held here, not in JetStream.
    const inJetStream = this.window.inFlight - this.window.failed.size;
    if (this.window.full && lost && inJetStream > 0)
      throw lostInFlight(inJetStream, 'copies sent while planning that are still open');
    await this.summarizeWhenDue();
    return undefined;
  }

  private tooManyGivenUp(): boolean {
    return this.window.givenUp > this.window.limit;
  }

  /** The job's progress while planning, spaced like the running engine's summaries. */
  private async summarizeWhenDue(): Promise<void> {
    if (this.summaries.dueInMs() > 0) return;
    this.report(await this.summaries.read());
  }
}
