// What happens after a crash: `resumeJob`, the start of a job's task engine.
//
// Every start of an engine after its first is a resume — an operator restart,
// a leader change, an engine that stopped on an error, a suspension lifted, a
// user's retry (docs/resume-model.md, ADR 0007). The first start runs the same
// steps and finds nothing to take over. Production (engine/jobEngine.ts), the
// resume tests and bench/resume.ts all go through this one function.
import type { JetStreamManager } from '@nats-io/jetstream';
import { streams } from '../../api/names.ts';
import { statusConsumerName, type PlannedTask } from '../../api/tasks.ts';
import type { Logger } from '../../common/logging.ts';
import type { JobChannels } from '../dispatch/jobChannels.ts';
import { StatusIngestor } from '../dispatch/statusIngest.ts';
import type { ConsumerSettings } from '../dispatch/streams.ts';
import type { JobRecord } from '../ledger/taskLedger.ts';
import { taskId } from '../planner/taskPlanner.ts';
import { retryPolicyOf } from './retryPolicy.ts';
import { sendAfterPlan, type AfterPlan, type SendingSpec } from './sendAfterPlan.ts';
import { sendIncompleteTasks } from './sendIncompleteTasks.ts';
import { drainStatus, takeOverJobQueues } from './takeOver.ts';

export interface ResumeSettings {
  spec: SendingSpec;
  /** The job's consumers' settings (task ack-wait, max-deliver). */
  consumers?: ConsumerSettings;
  log: Logger;
  /** Told of the copies re-sent while the plan is still incomplete (the planning window counts them). */
  onResent?: (tasks: PlannedTask[]) => void;
}

export interface ResumedJob {
  /** The epoch this start opened: every dispatch from now on carries it. */
  epoch: number;
  /** The job record as the new epoch found it. */
  record: JobRecord;
  /** Ingests the job's statuses from the status consumer the take-over put in place. */
  ingestor: StatusIngestor;
  /** What was sent when the plan was already complete; undefined while planning has to go on. */
  afterPlan?: AfterPlan;
}

/**
 * Starts the job's engine on what the ledger holds, in this order (each step
 * relies on the one before):
 * 1. take over the job's queues — streams re-created, older epochs' queued
 *    task messages withdrawn, the status consumer replaced (takeOver.ts);
 * 2. drain the waiting statuses into the ledger, so work finished while no
 *    operator listened counts and is not sent again;
 * 3. open a new epoch: reports of older epochs are fenced off from now on;
 * 4. drop the tasks an interrupted plan step recorded past its checkpoint
 *    (planned again, never sent: a step's copies go out after its commit);
 * 5. re-send, as a new attempt, every task that is not SUCCEEDED (sendIncompleteTasks.ts):
 *    with the plan complete, after its deletes are judged safe, a user's retry
 *    included (sendAfterPlan.ts); with the plan part-way, the copies it
 *    recorded, deletes held, so they run while the rest is planned.
 */
export async function resumeJob(
  job: JobChannels,
  jsm: JetStreamManager,
  settings: ResumeSettings,
): Promise<ResumedJob> {
  const { spec, log } = settings;
  await job.ledger.ensureJob();
  const { purgedTasks } = await takeOverJobQueues(jsm, job.jobUid, settings.consumers);
  const consumer = await job.js.consumers.get(streams.status, statusConsumerName(job.jobUid));
  const ingestor = new StatusIngestor(job, consumer, log);
  const drainedStatus = await drainStatus(consumer, ingestor);
  const epoch = await job.ledger.openEpoch();
  log.info('task engine started', { epoch, purgedTasks, drainedStatus });
  const record = (await job.ledger.job())!.record;
  if (record.planComplete)
    return { epoch, record, ingestor, afterPlan: await sendAfterPlan(job, record, { spec, epoch, log }) };
  await job.ledger.dropUncheckpointedTasks(record.checkpoint.tasks, taskId);
  if (!spec.deletion?.dryRun && record.checkpoint.tasks > 0)
    await sendIncompleteTasks(job, {
      epoch,
      resume: true,
      retryFailed: false,
      policy: retryPolicyOf(spec.retry),
      log,
      planComplete: false,
      onSent: settings.onResent,
    });
  return { epoch, record, ingestor };
}
