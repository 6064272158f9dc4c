// How far planning may run ahead of the copies (ADR 0017).
//
// Planning is much faster than copying (a million objects planned in about
// 3 s), and every planned task's definition sits in etcd until the task
// succeeds. Unchecked, a job of a hundred million objects would hold all its
// definitions at once, gigabytes past etcd's quota. So the copies sent while
// planning are counted until they succeed or are given up, and planning waits
// while more than `limit` are open. A copy that failed stays open: the engine
// sends it again after its back-off (or gives it up) while it waits, so
// failures cannot let planning run away either. The ledger then holds at most
// `limit` plus one plan step of copy definitions, the given-up copies (kept
// for a user's retry; planning stops when they outnumber `limit`), and the
// held deletes.
import type { PlannedTask } from '../../api/tasks.ts';
import type { UpdateOutcome } from '../ledger/taskLedger.ts';
import type { ChosenRound } from '../resume/sendIncompleteTasks.ts';

export class PlanningWindow {
  private readonly open = new Set<string>();
  /** Open copies whose current attempt failed: due for a retry round. */
  private readonly failedOpen = new Set<string>();
  private givenUpCount = 0;
  readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Copies just sent (deletes wait for the whole plan, so they never count). */
  sent(tasks: readonly PlannedTask[]): void {
    for (const task of tasks) {
      if (task.kind === 'delete') continue;
      this.open.add(task.id);
      this.failedOpen.delete(task.id);
    }
  }

  /** Statuses just recorded. One fenced off as stale is another epoch's, about a task of the same id. */
  recorded(outcomes: readonly UpdateOutcome[]): void {
    for (const outcome of outcomes) {
      if (!this.open.has(outcome.taskId)) continue;
      const current = outcome.apply || outcome.why === 'duplicate' || outcome.why === 'terminal';
      if (!current) continue;
      if (outcome.state === 'SUCCEEDED') this.settle(outcome.taskId);
      else if (outcome.state === 'FAILED') this.failedOpen.add(outcome.taskId);
    }
  }

  /** What a retry round of the failed copies did. */
  retried(round: ChosenRound): void {
    for (const id of [...round.sent, ...round.inFlight]) this.failedOpen.delete(id);
    for (const id of round.settled) this.settle(id);
    for (const id of round.givenUp) {
      this.settle(id);
      this.givenUpCount++;
    }
  }

  private settle(taskId: string): void {
    this.open.delete(taskId);
    this.failedOpen.delete(taskId);
  }

  /** Open copies whose attempt failed, for the next retry round. */
  get failed(): ReadonlySet<string> {
    return this.failedOpen;
  }

  /** Copies sent and neither succeeded nor given up. */
  get inFlight(): number {
    return this.open.size;
  }

  /** Copies given up during this planning pass. */
  get givenUp(): number {
    return this.givenUpCount;
  }

  get full(): boolean {
    return this.open.size > this.limit;
  }
}
