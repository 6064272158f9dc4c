// Taking over a job's queues before a resume, so that a resume costs no
// duplicate work beyond the tasks in a worker's hands:
//
// 1. Purge the job's task subject. Messages of older epochs still queued would
//    otherwise be executed by the workers and then, as the resume re-sends
//    every incomplete task in a new epoch, executed again (their status fenced
//    off as stale). A message already in a worker's hands is not recalled: the
//    worker finishes it, its ack of a purged message is a no-op, and if its
//    status arrives after the new epoch opened it is fenced and the task runs
//    once more — at most one task per source worker.
// 2. Replace the status consumer. A predecessor that died holding a fetched
//    batch leaves those messages unacknowledged until the consumer's ack-wait
//    runs out; the stream (work-queue retention) keeps every unacknowledged
//    message, so a new durable consumer delivers them at once. Ingestion is
//    idempotent, so a message seen twice does no harm.
// 3. Drain the status stream into the ledger, so what the workers finished
//    while no operator listened counts, before the new epoch fences it off.
//
// The alternative — fencing stale epochs on the worker side — would need every
// worker to learn the current epoch before each task, and would still run the
// queued tasks twice on workers that had not learned it yet.
import type { Consumer, JetStreamManager } from '@nats-io/jetstream';
import { streams } from '../../api/names.ts';
import { statusConsumerName, tasksSubject } from '../../api/tasks.ts';
import { ensureJobConsumers, type ConsumerSettings } from '../dispatch/streams.ts';
import type { StatusIngestor } from '../dispatch/statusIngest.ts';

export async function takeOverJobQueues(
  jsm: JetStreamManager,
  jobUid: string,
  settings?: ConsumerSettings,
): Promise<{ purgedTasks: number }> {
  const { purged } = await jsm.streams.purge(streams.tasks, { filter: tasksSubject(jobUid) });
  try {
    await jsm.consumers.delete(streams.status, statusConsumerName(jobUid));
  } catch (err) {
    if (!/consumer not found/i.test(String(err))) throw err;
  }
  await ensureJobConsumers(jsm, jobUid, settings);
  return { purgedTasks: purged };
}

/** Ingests status messages until the job's status consumer has none waiting. */
export async function drainStatus(consumer: Consumer, ingestor: StatusIngestor): Promise<number> {
  let ingested = 0;
  for (;;) {
    const info = await consumer.info(false); // fresh from the server, not the cached copy
    if (info.num_pending === 0 && info.num_ack_pending === 0) return ingested;
    ingested += (await ingestor.ingestBatch(512, 1_000, info.num_pending)).length;
  }
}
