// How far planning may run ahead of the copies (ADR 0017).
//
// Planning is much faster than copying (a million objects planned in about
// 3 s), and every planned task's definition sits in etcd until the task
// succeeds. Unchecked, a job of a hundred million objects would hold all its
// definitions at once, gigabytes past etcd's quota. So the copies planned and
// sent in this planning pass are counted until a status settles them
// (SUCCEEDED, or FAILED: a failure is retried once planning is done), and
// planning waits while more than `limit` are open. The ledger then holds at
// most `limit` plus one plan step of copy definitions, plus the held deletes.
import type { PlannedTask } from '../../api/tasks.ts';
import type { UpdateOutcome } from '../ledger/taskLedger.ts';

export class PlanningWindow {
  private readonly open = new Set<string>();
  readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Copies just sent (deletes wait for the whole plan, so they never count). */
  sent(tasks: readonly PlannedTask[]): void {
    for (const task of tasks) if (task.kind !== 'delete') this.open.add(task.id);
  }

  /** Statuses just recorded. One fenced off as stale is another epoch's, about a task of the same id. */
  settled(outcomes: readonly UpdateOutcome[]): void {
    for (const outcome of outcomes) {
      const terminal = outcome.state === 'SUCCEEDED' || outcome.state === 'FAILED';
      const current = outcome.apply || outcome.why === 'duplicate' || outcome.why === 'terminal';
      if (terminal && current) this.open.delete(outcome.taskId);
    }
  }

  /** Copies sent and not yet settled. */
  get inFlight(): number {
    return this.open.size;
  }

  get full(): boolean {
    return this.open.size > this.limit;
  }
}
