// What the job's task engine reports becomes the job's status: exact counters
// from the ledger (ADR 0004) and, once the engine is done, the job's outcome.
import type { ReplicationJob, ReplicationJobStatus } from '../../api/v1alpha1/index.ts';
import type { EngineProgress } from '../engine/engineProgress.ts';
import { rfc3339 } from './conditions.ts';
import type { PolicyOutcome } from './decision.ts';
import { outcomeConditions, type JobOutcome } from './jobConditions.ts';

/** What a dry run found: the plan it would have carried out. */
export function dryRunReport(totals: NonNullable<EngineProgress['totals']>): string {
  return `dry run, nothing changed: the plan would copy ${totals.objectsToCopy} objects (${totals.bytesToCopy} bytes), delete ${totals.objectsToDelete} and skip ${totals.objectsSkipped} already identical`;
}

function copiedPercent(progress: EngineProgress): number | undefined {
  // Unknown while planning goes on (a large job plans as long as it copies, ADR 0017): what is
  // planned so far is no measure of the whole.
  if (progress.phase === 'planning') return undefined;
  if (progress.phase === 'succeeded') return 100;
  const { totals, summary } = progress;
  const percent =
    totals!.bytesToCopy > 0
      ? (100 * summary!.bytesCopied) / totals!.bytesToCopy
      : totals!.objectsToCopy > 0
        ? (100 * summary!.objectsCopied) / totals!.objectsToCopy
        : 100;
  return Math.min(99, Math.floor(percent));
}

/** Up to 100 failed objects with their reasons, and how many failed in all; emptied when a retry fixed them. */
function failedObjectsStatus(
  summary: NonNullable<EngineProgress['summary']>,
  old: ReplicationJobStatus,
): Partial<ReplicationJobStatus> {
  if (!summary.failures.length && !old.failedObjects?.length && !old.failedObjectsTotal) return {};
  // A merge patch replaces the list whole.
  return {
    failedObjects: summary.failures.map(({ key, reason }) => ({ key, reason })),
    failedObjectsTotal: summary.objectsFailed,
  };
}

/** The job's counters, from the engine's ledger snapshot: exact, never above 100 %. */
export function progressStatus(
  progress: EngineProgress,
  old: ReplicationJobStatus,
): Partial<ReplicationJobStatus> {
  const { totals, summary } = progress;
  if (!totals || !summary) return {};
  const percent = copiedPercent(progress);
  return {
    objects: {
      // As the API documents it: what the plan copies or deletes.
      planned: totals.objectsToCopy + totals.objectsToDelete,
      copied: summary.objectsCopied,
      skipped: totals.objectsSkipped,
      deleted: summary.objectsDeleted,
      failed: summary.objectsFailed,
    },
    bytes: {
      planned: totals.bytesToCopy,
      copied: summary.bytesCopied,
      skipped: totals.bytesSkipped,
      deleted: 0,
      failed: 0,
    },
    tasks: {
      pending: summary.tasks.PENDING,
      dispatched: summary.tasks.DISPATCHED,
      running: summary.tasks.RUNNING,
      succeeded: summary.tasks.SUCCEEDED,
      failed: summary.tasks.FAILED,
    },
    ...(percent === undefined ? {} : { progressPercent: percent }),
    resumes: Math.max(old.resumes ?? 0, progress.epoch - 2, 0),
    ...failedObjectsStatus(summary, old),
    ...(progress.failureReport ? { failureReport: progress.failureReport } : {}),
  };
}

/** The job's outcome as the engine reports it. */
export function engineOutcome(progress: EngineProgress, job: ReplicationJob): JobOutcome {
  if (progress.phase === 'succeeded')
    return {
      kind: 'succeeded',
      message:
        job.spec.deletion?.dryRun && progress.totals ? dryRunReport(progress.totals) : 'every task succeeded',
    };
  if (progress.phase === 'failed') return { kind: 'failed', ...progress.failure! };
  return { kind: 'inProgress' };
}

/**
 * The status of a running job from its engine's progress: the counters, and
 * once the engine is done the outcome's conditions and completion time.
 */
export function progressPolicy(progress: EngineProgress, job: ReplicationJob, now: Date): PolicyOutcome {
  const status = progressStatus(progress, job.status ?? {});
  const outcome = engineOutcome(progress, job);
  if (outcome.kind === 'inProgress') return { status };
  const finishedAt = rfc3339(now);
  return {
    status: {
      ...status,
      completionTime: finishedAt,
      ...(outcome.kind === 'failed'
        ? { lastFailure: { reason: outcome.reason, message: outcome.message, time: finishedAt } }
        : {}),
    },
    conditions: outcomeConditions(outcome),
  };
}
