// What a job's task engine tells the controller: its phase and the progress
// read from the ledger. The controller's decide turns it into the job's status.
import type { LedgerSummary } from '../ledger/taskLedger.ts';
import type { PlanTotals } from '../planner/taskPlanner.ts';
import type { Outage } from './outage.ts';

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
  /** The ConfigMap that lists every failure the workers named, once written (failureReport.ts). */
  failureReport?: string;
  /** What the engine waits for to come back, while it does (outageRide.ts). */
  outage?: Outage;
}

/**
 * The job's failure when tasks were given up: how many objects, the first five
 * with their reasons (or the last error, when no object was named); `why` adds
 * context. status.failedObjects has more, the failure report all (ADR 0036).
 */
export function tasksFailed(summary: LedgerSummary, why = ''): EngineFailure {
  const keys = summary.failures
    .slice(0, 5)
    .map((f) => `${f.key}: ${f.reason}`)
    .join('; ');
  const cause = !keys && summary.lastError ? ` (${summary.lastError.message})` : '';
  return { reason: 'TasksFailed', message: `${summary.objectsFailed} objects failed: ${keys}${cause}${why}` };
}
