// What a complete plan leaves to send: the tasks the ledger does not hold as
// SUCCEEDED, and the deletes once every copy succeeded — after the plan's
// deletes are judged safe (planner/deleteSafety.ts), and never in a dry run.
// The engine comes here once per start: at once when the plan was already
// complete (a resume, resumeJob.ts), else when its planning completes.
import type { ReplicationJobSpec } from '../../api/v1alpha1/index.ts';
import type { Logger } from '../../common/logging.ts';
import type { JobChannels } from '../dispatch/jobChannels.ts';
import type { JobRecord } from '../ledger/taskLedger.ts';
import { judgeDeletes } from '../planner/deleteSafety.ts';
import { emptyTotals, type PlanTotals } from '../planner/taskPlanner.ts';
import { retryPolicyOf } from './retryPolicy.ts';
import { sendIncompleteTasks, type SendSummary } from './sendIncompleteTasks.ts';

/** The spec fields that decide what is sent: the retry policy, the delete rules, a user's retry. */
export type SendingSpec = Pick<ReplicationJobSpec, 'retry' | 'deletion' | 'retryRequest'>;

export type AfterPlan =
  /** The plan's deletes are not safe: nothing more is sent and the job fails. */
  | { kind: 'deletesRefused'; totals: PlanTotals; failure: { reason: string; message: string } }
  /** A dry run: the plan is the report; nothing is sent. */
  | { kind: 'dryRun'; totals: PlanTotals }
  | { kind: 'sent'; totals: PlanTotals; sent: SendSummary };

/**
 * Sends what the complete plan in `record` leaves to do, in `epoch`. A retry
 * request the ledger has not acted on yet re-sends the tasks given up, once.
 */
export async function sendAfterPlan(
  job: JobChannels,
  record: JobRecord,
  settings: { spec: SendingSpec; epoch: number; log: Logger },
): Promise<AfterPlan> {
  const { spec, epoch, log } = settings;
  const totals = record.totals ?? emptyTotals();
  const verdict = judgeDeletes(totals, spec.deletion);
  if (!verdict.allowed)
    return { kind: 'deletesRefused', totals, failure: { reason: verdict.reason, message: verdict.message } };
  if (spec.deletion?.dryRun) return { kind: 'dryRun', totals };
  const retryRequest =
    spec.retryRequest !== undefined && spec.retryRequest !== record.retryRequest
      ? spec.retryRequest
      : undefined;
  const sent = await sendIncompleteTasks(job, {
    epoch,
    resume: true,
    retryFailed: retryRequest !== undefined,
    policy: retryPolicyOf(spec.retry),
    log,
  });
  if (retryRequest !== undefined) await job.ledger.recordRetry(retryRequest);
  log.info('tasks sent', {
    epoch,
    resent: sent.resent,
    succeeded: sent.succeeded,
    failed: sent.failed.length,
    ...(retryRequest !== undefined ? { retryRequest } : {}),
  });
  return { kind: 'sent', totals, sent };
}
