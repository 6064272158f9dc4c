// The JetStream streams and consumers Ferry uses.
//
//   FERRY_TASKS   ferry.tasks.<jobUid>   work-queue retention: a task message is
//                 removed once a source worker acknowledged it.
//   FERRY_STATUS  ferry.status.<jobUid>  work-queue retention: a status message is
//                 removed once the operator committed it to the ledger and acked.
//
// Both are file-backed and de-duplicate by Nats-Msg-Id. Both are bounded in
// bytes (streamLimits), so one job's backlog cannot fill the JetStream store
// every job shares; a full stream refuses new messages (discard: new — a
// work queue must never drop a task to make room), and the publisher waits
// for room (messageBudget.ts): planning is held back, no job fails for it. Each job has one durable
// pull consumer per stream, named with the job's prefix so the finalizer can
// remove them (operator/external/jobState.ts).
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { streams } from '../../api/names.ts';
import { statusConsumerName, statusSubject, taskConsumerName, tasksSubject } from '../../api/tasks.ts';

export interface ConsumerSettings {
  /** How long a worker may hold a task without a progress signal before it is redelivered. */
  taskAckWaitMs: number;
  /** Deliveries of one task message before JetStream gives up on it (the ledger still re-sends on resume). */
  taskMaxDeliver: number;
}

/** The status consumer's ack-wait (see ensureJobConsumers). */
export const statusAckWaitMs = 10_000;

export const defaultConsumerSettings: ConsumerSettings = { taskAckWaitMs: 60_000, taskMaxDeliver: 5 };

/**
 * The most bytes each stream holds. Tasks: a job plans a window of tasks
 * ahead (planningWindow.ts), each at most maxTaskMessageBytes, so a few jobs'
 * windows fit with room; statuses are drained by the operator as they come.
 */
export const streamLimits = { tasksMaxBytes: 1024 * 1024 * 1024, statusMaxBytes: 256 * 1024 * 1024 };

async function ensureStream(
  jsm: JetStreamManager,
  name: string,
  subjects: string[],
  maxBytes: number,
): Promise<void> {
  const config = {
    name,
    subjects,
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: nanos(10 * 60_000),
    max_bytes: maxBytes,
    discard: DiscardPolicy.New,
  };
  try {
    await jsm.streams.info(name);
    await jsm.streams.update(name, config);
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
    await jsm.streams.add(config);
  }
}

export async function ensureStreams(jsm: JetStreamManager, limits = streamLimits): Promise<void> {
  await ensureStream(jsm, streams.tasks, ['ferry.tasks.>'], limits.tasksMaxBytes);
  await ensureStream(jsm, streams.status, ['ferry.status.>'], limits.statusMaxBytes);
}

export { statusConsumerName, taskConsumerName } from '../../api/tasks.ts';

/**
 * Creates a durable consumer, or brings an existing one to `config`'s
 * editable settings (JetStream refuses to create it again with another
 * config): an operator restarted with another ack-wait changes a running
 * job's consumer.
 */
async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig> & { durable_name: string },
): Promise<void> {
  try {
    await jsm.consumers.add(stream, config);
  } catch (err) {
    if (!/consumer already exists/i.test(String(err))) throw err;
    const { ack_wait, max_deliver, max_ack_pending } = config;
    await jsm.consumers.update(stream, config.durable_name, { ack_wait, max_deliver, max_ack_pending });
  }
}

/** Creates the job's durable consumers, or updates them to `settings`; idempotent. */
export async function ensureJobConsumers(
  jsm: JetStreamManager,
  jobUid: string,
  settings = defaultConsumerSettings,
): Promise<void> {
  await ensureConsumer(jsm, streams.tasks, {
    durable_name: taskConsumerName(jobUid),
    filter_subject: tasksSubject(jobUid),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(settings.taskAckWaitMs),
    max_deliver: settings.taskMaxDeliver,
  });
  await ensureConsumer(jsm, streams.status, {
    durable_name: statusConsumerName(jobUid),
    filter_subject: statusSubject(jobUid),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    // Statuses handed to a fetch that died with its connection (a nats-server
    // restart) wait this long before they are delivered again: short, yet far
    // above the time to commit a batch to the ledger.
    ack_wait: nanos(statusAckWaitMs),
    max_ack_pending: 10_000,
  });
}

/** Whether a JetStream call failed because its stream (or the KV bucket over it) does not exist. */
export function isStreamNotFound(err: unknown): boolean {
  const e = err as { message?: string; api_error?: { err_code?: number } };
  return (
    e.api_error?.err_code === 10059 || /stream not found|bucket not found/i.test(e.message ?? String(err))
  );
}
