// Planning a job into its ledger, in steps that each end on a checkpoint
// (ADR 0007): a plan interrupted (operator killed, leader change) goes on
// after the checkpoint's key, with its running totals and task positions, so
// task ids stay the plan positions and nothing is planned twice.
import type { ReplicationJob } from '../../api/v1alpha1/index.ts';
import type { PlannedTask } from '../../api/tasks.ts';
import type { Logger } from '../../common/logging.ts';
import type { JobRecord, TaskLedger } from '../ledger/taskLedger.ts';
import {
  countDeletes,
  DeletesRefused,
  findNameCollisions,
  judgeCountedDeletes,
} from '../planner/deletePrePass.ts';
import { compileFilters } from '../planner/filters.ts';
import { findSourceCollisions, judgeSourceCollisions } from '../planner/foldedSourceNames.ts';
import { mergeListings } from '../planner/listingMerge.ts';
import {
  mergeStoreListings,
  openStoreListing,
  type StoreListing,
  type StoreListingContext,
} from '../planner/storeListing.ts';
import { WorkerListing } from '../planner/workerListing.ts';
import { refuseOverlappingStores } from '../planner/storeOverlap.ts';
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
 * On a filesystem destination whose volume folds names (its worker probes it),
 * any job first checks that no two source keys land on one file there (ADR
 * 0035). Throws DeletesRefused naming them. A dry run copies nothing: skipped.
 */
async function judgeFoldedNamesBeforeCopying(
  job: ReplicationJob,
  source: StoreListing,
  destination: StoreListing,
  log: Logger,
): Promise<void> {
  if (job.spec.deletion?.dryRun || !(destination instanceof WorkerListing)) return;
  const folding = await destination.nameFolding();
  if (!folding.foldsCase && !folding.foldsNormalisation) return;
  const found = await findSourceCollisions(
    source.list('', undefined, { checksums: false }),
    planOptions(job).inScope,
  );
  const verdict = judgeSourceCollisions(found, destination.description);
  log.info('the destination folds names: source keys checked', {
    ...folding,
    collisions: found.pairs.length,
  });
  if (!verdict.allowed) throw new DeletesRefused({ reason: verdict.reason, message: verdict.message });
}

/**
 * A Sync that deletes judges its delete guards before its first copy (ADR
 * 0031): a counting pass over the merged listings (no checksums: a delete and
 * an in-scope source key do not depend on them), then, when there are deletes,
 * a pass over the source for names that fold onto a delete. Throws
 * DeletesRefused. Run on every planning start, resumed or not, so the verdict
 * is always on the current listings and spec.
 */
async function judgeDeletesBeforeCopying(
  job: ReplicationJob,
  source: StoreListing,
  destination: StoreListing,
  log: Logger,
): Promise<void> {
  const { spec } = job;
  await judgeFoldedNamesBeforeCopying(job, source, destination, log);
  if ((spec.mode ?? 'Copy') !== 'Sync' || spec.deletion?.dryRun) return;
  const started = Date.now();
  const { inScope } = planOptions(job);
  const plain = { checksums: false };
  const count = await countDeletes(
    mergeListings(source.list('', undefined, plain), destination.list('', undefined, plain)),
    inScope,
    spec.deletion?.maxDeletes ?? 1000,
  );
  const collisions =
    count.exceeded || count.deletes === 0
      ? []
      : await findNameCollisions(source.list('', undefined, plain), count.candidates, inScope);
  const verdict = judgeCountedDeletes(count, collisions, spec.deletion);
  log.info('deletes counted before copying', {
    deletes: count.deletes,
    sourceObjects: count.sourceObjects,
    collisions: collisions.length,
    allowed: verdict.allowed,
    ms: Date.now() - started,
  });
  if (!verdict.allowed) throw new DeletesRefused({ reason: verdict.reason, message: verdict.message });
}

/**
 * Plans `job` from `record`'s checkpoint on (the tasks an interrupted step
 * recorded beyond it were dropped by the resume), recording every step with
 * its checkpoint before `onStep` hears of it. Throws StoresOverlapError,
 * having listed nothing, when the job's stores overlap.
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
  // Before either store is listed: overlapping stores are never planned (ADR 0034).
  refuseOverlappingStores(job);
  const context = { ...settings.listing, log };
  const source = await openStoreListing(job, 'source', context);
  const destination = await openStoreListing(job, 'destination', context);
  try {
    await judgeDeletesBeforeCopying(job, source, destination, log).catch((err: unknown) => {
      // A plan resumed past its first step has sent copies already: the refusal says so.
      if (!(err instanceof DeletesRefused) || checkpoint.tasks === 0) throw err;
      const message = err.failure.message.replace(
        /nothing was copied or deleted$/,
        `nothing was deleted; the ${checkpoint.tasks} tasks planned before the engine restarted were sent`,
      );
      throw new DeletesRefused({ reason: err.failure.reason, message });
    });
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
