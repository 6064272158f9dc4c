// Planning a job into its ledger, in steps that each end on a checkpoint
// (ADR 0007): a plan interrupted (operator killed, leader change) goes on
// after the checkpoint's key, with its running totals and task positions, so
// task ids stay the plan positions and nothing is planned twice.
import type { ReplicationJob } from '../../api/v1alpha1/index.ts';
import type { PlannedTask } from '../../api/tasks.ts';
import type { Logger } from '../../common/logging.ts';
import type { JobRecord, TaskLedger } from '../ledger/taskLedger.ts';
import { compileFilters } from '../planner/filters.ts';
import { mergeStoreListings, openStoreListing, type StoreListingContext } from '../planner/storeListing.ts';
import { defaultStepSettings, emptyTotals, planInSteps, type PlanTotals } from '../planner/taskPlanner.ts';

export interface PlanSettings {
  /** Reaches the stores' listings (through a worker for a filesystem side). */
  listing: Omit<StoreListingContext, 'log'>;
  log: Logger;
  /** Checked between steps: a stopped engine plans no further. */
  stopped(): boolean;
  /** Told of each step once it is recorded, with the plan's running totals. */
  onStep(tasks: PlannedTask[], totals: PlanTotals): Promise<void>;
}

/** The spec's task sizes, with their defaults. */
function planOptions(job: ReplicationJob) {
  const { spec } = job;
  return {
    mode: spec.mode ?? 'Copy',
    maxObjects: spec.tasks?.maxObjects ?? 1000,
    maxBytes: spec.tasks?.maxBytes ?? 64 * 1024 * 1024,
    partSize: spec.tasks?.partSize ?? 64 * 1024 * 1024,
    inScope: compileFilters(spec.filters),
  };
}

/**
 * Plans `job` from `record`'s checkpoint on (the tasks an interrupted step
 * recorded beyond it were dropped by the resume), recording every step with
 * its checkpoint before `onStep` hears of it.
 */
export async function planJob(
  job: ReplicationJob,
  ledger: TaskLedger,
  record: JobRecord,
  settings: PlanSettings,
): Promise<void> {
  const { log } = settings;
  const { checkpoint } = record;
  const after = checkpoint.sourceAfter;
  const totals = checkpoint.totals ? { ...checkpoint.totals } : emptyTotals();
  if (totals.tasks !== checkpoint.tasks)
    throw new Error(
      `the plan checkpoint is inconsistent: ${checkpoint.tasks} tasks recorded but totals count ${totals.tasks}`,
    );
  if (after !== undefined)
    log.info('planning resumed from the checkpoint', { after, tasks: checkpoint.tasks });
  const context = { ...settings.listing, log };
  const source = await openStoreListing(job, 'source', context);
  const destination = await openStoreListing(job, 'destination', context);
  try {
    const steps = planInSteps(
      mergeStoreListings(source, destination, {
        sourceAfter: after,
        destinationAfter: checkpoint.destinationAfter,
      }),
      planOptions(job),
      totals,
      after === undefined ? defaultStepSettings : { ...defaultStepSettings, firstStep: undefined },
    );
    for await (const step of steps) {
      if (settings.stopped()) throw new Error('stopped while planning');
      const moved = step.after !== undefined ? { sourceAfter: step.after, destinationAfter: step.after } : {};
      await ledger.recordPlan(
        step.tasks,
        { ...moved, totals: step.totals },
        step.done,
        step.done ? step.totals : undefined,
      );
      log.debug('plan checkpoint recorded', { tasks: step.totals.tasks, after: step.after, done: step.done });
      await settings.onStep(step.tasks, step.totals);
    }
  } finally {
    await source.close();
    await destination.close();
  }
}
