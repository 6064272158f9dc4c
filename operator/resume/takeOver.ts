// Taking over a job's queues, the first steps of a resume (resumeJob.ts), so
// that a resume costs no duplicate work beyond the tasks in a worker's hands
// (ADR 0007):
// 0. re-create the streams if JetStream lost them (what ends an engine, deliveryWatch.ts);
// 1. purge the job's queued task messages: all of older epochs, they would be
//    carried out, fenced off as stale, and carried out again as re-sent;
// 2. replace the status consumer, so the statuses a dead predecessor had
//    fetched but not acknowledged are delivered at once, not after its ack-wait;
// 3. drain the status stream into the ledger, so what workers finished while
//    no operator listened counts before the new epoch fences it off.
import type { Consumer, JetStreamManager } from '@nats-io/jetstream';
import { streams } from '../../api/names.ts';
import { statusConsumerName, tasksSubject } from '../../api/tasks.ts';
import { ensureJobConsumers, ensureStreams, type ConsumerSettings } from '../dispatch/streams.ts';
import type { StatusIngestor } from '../dispatch/statusIngest.ts';

/** Steps 0–2 above; returns how many queued task messages were withdrawn. */
export async function takeOverJobQueues(
  jsm: JetStreamManager,
  jobUid: string,
  settings?: ConsumerSettings,
): Promise<{ purgedTasks: number }> {
  await ensureStreams(jsm);
  const { purged } = await jsm.streams.purge(streams.tasks, { filter: tasksSubject(jobUid) });
  try {
    await jsm.consumers.delete(streams.status, statusConsumerName(jobUid));
  } catch (err) {
    if (!/consumer not found/i.test(String(err))) throw err;
  }
  await ensureJobConsumers(jsm, jobUid, settings);
  return { purgedTasks: purged };
}

/** Step 3: ingests status messages until the job's status consumer has none waiting. */
export async function drainStatus(consumer: Consumer, ingestor: StatusIngestor): Promise<number> {
  let ingested = 0;
  for (;;) {
    const info = await consumer.info(false); // fresh from the server, not the cached copy
    if (info.num_pending === 0 && info.num_ack_pending === 0) return ingested;
    ingested += (await ingestor.ingestBatch(512, 1_000, info.num_pending)).length;
  }
}
