// Status ingestion: workers' status messages → the ledger, in batches.
//
// A batch is acknowledged only after its ledger transaction committed. An
// operator that dies in between loses nothing: the messages are redelivered,
// and the ledger recognises what it already holds (judgeTransition says
// 'duplicate'), so nothing is counted twice. A message that is not a valid
// status is terminated (never redelivered) and logged, so it cannot block the
// stream.
import type { Consumer, JsMsg } from '@nats-io/jetstream';
import type { StatusMessage } from '../../api/tasks.ts';
import type { Logger } from '../../common/logging.ts';
import type { StatusUpdate, UpdateOutcome } from '../ledger/taskLedger.ts';
import type { JobChannels } from './jobChannels.ts';

const reportedStates = new Set(['RUNNING', 'SUCCEEDED', 'FAILED']);

/** Parses and checks a status message; returns a reason when it is not one. */
export function parseStatusMessage(data: string, jobUid: string): StatusMessage | string {
  let m: Partial<StatusMessage>;
  try {
    m = JSON.parse(data) as Partial<StatusMessage>;
  } catch {
    return 'not JSON';
  }
  if (m.jobUid !== jobUid) return `for job ${String(m.jobUid)}, not ${jobUid}`;
  if (typeof m.taskId !== 'string' || !m.taskId) return 'no taskId';
  if (!Number.isInteger(m.epoch) || !Number.isInteger(m.attempt)) return 'epoch and attempt must be integers';
  if (!reportedStates.has(m.state as string)) return `unknown state ${String(m.state)}`;
  if (typeof m.worker !== 'string') return 'no worker';
  if (m.taskSeq !== undefined && !(Number.isSafeInteger(m.taskSeq) && m.taskSeq > 0))
    return 'taskSeq must be a positive integer';
  return m as StatusMessage;
}

export class StatusIngestor {
  private readonly job: Pick<JobChannels, 'ledger' | 'jobUid'>;
  private readonly consumer: Consumer;
  private readonly log: Logger;
  /** Messages the last pull left waiting behind its last message (JsMsg.info.pending). */
  private leftBehind: number | undefined;

  /** `consumer`: the job's durable status consumer. */
  constructor(job: Pick<JobChannels, 'ledger' | 'jobUid'>, consumer: Consumer, log: Logger) {
    this.job = job;
    this.consumer = consumer;
    this.log = log;
  }

  /**
   * Takes the messages waiting, up to `max` (waiting at most `expiresMs` for
   * the first when none is), commits them to the ledger, then acknowledges
   * them. Returns the outcomes of the valid ones. `pending`: the consumer's
   * pending count, when the caller has just read it.
   */
  async ingestBatch(max = 256, expiresMs = 1_000, pending?: number): Promise<UpdateOutcome[]> {
    const messages: JsMsg[] = [];
    // Ask for what is waiting (one when nothing is): a pull is answered as soon
    // as the server holds that many, whereas a pull for more than it holds
    // waits out its expiry (at least 1 s) — a second's lag on every status.
    // A caller that just read the consumer's pending count passes it; otherwise
    // the last message of the previous pull said how many were left behind it
    // (messages that came since only make this pull smaller, never slower), and
    // only the first pull asks the server.
    const waiting = pending ?? this.leftBehind ?? (await this.consumer.info()).num_pending;
    const batch = await this.consumer.fetch({
      max_messages: Math.min(max, Math.max(1, waiting)),
      expires: expiresMs,
    });
    for await (const m of batch) messages.push(m);
    this.leftBehind = messages.length > 0 ? messages[messages.length - 1]!.info.pending : 0;
    if (messages.length === 0) return [];

    const valid: { msg: JsMsg; update: StatusUpdate }[] = [];
    for (const msg of messages) {
      const parsed = parseStatusMessage(msg.string(), this.job.jobUid);
      if (typeof parsed === 'string') {
        this.log.warn('discarding an invalid status message', {
          reason: parsed,
          subject: msg.subject,
          seq: msg.seq,
        });
        msg.term(parsed);
        continue;
      }
      const { jobUid: _job, ...update } = parsed;
      valid.push({ msg, update });
    }
    let outcomes: UpdateOutcome[];
    try {
      outcomes = await this.job.ledger.applyUpdates(
        valid.map((v) => v.update),
        'workers',
      );
    } catch (err) {
      // Nothing was committed for this batch (or part of it, idempotently): hand it back.
      for (const { msg } of valid) msg.nak(1_000);
      throw err;
    }
    await Promise.all(valid.map(({ msg }) => msg.ackAck()));
    this.warnOfUnissued(outcomes);
    return outcomes;
  }

  /** Statuses for attempts the engine never issued are ignored, and said: something publishes as a worker. */
  private warnOfUnissued(outcomes: readonly UpdateOutcome[]): void {
    const unissued = outcomes.filter((o) => !o.apply && o.why === 'unissued');
    if (unissued.length === 0) return;
    this.log.warn(
      'ignored statuses for attempts the ledger never issued (not sent by a worker of this job)',
      {
        statuses: unissued.length,
        tasks: unissued.slice(0, 10).map((o) => o.taskId),
      },
    );
  }
}
