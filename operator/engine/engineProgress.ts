// What a job's task engine tells the controller: its phase and the progress
// read from the ledger. The controller's decide turns it into the job's status.
import type { LedgerSummary } from '../ledger/taskLedger.ts';
import type { PlanTotals } from '../planner/taskPlanner.ts';

export interface EngineFailure {
  reason: string;
  message: string;
}

export interface EngineProgress {
  phase: 'planning' | 'running' | 'succeeded' | 'failed';
  epoch: number;
  totals?: PlanTotals;
  summary?: LedgerSummary;
  failure?: EngineFailure;
}

/** The job's failure when tasks were given up: how many objects, the first keys, the last error; `why` adds context. */
export function tasksFailed(summary: LedgerSummary, why = ''): EngineFailure {
  const keys = summary.failedKeys.slice(0, 5).join(', ');
  const cause = summary.lastError ? ` (${summary.lastError.message})` : '';
  return { reason: 'TasksFailed', message: `${summary.objectsFailed} objects failed: ${keys}${cause}${why}` };
}
