// Watches that the job's tasks are still on their way through JetStream.
//
// The ledger says which tasks are in the workers' hands (DISPATCHED or
// RUNNING), but only JetStream holds their messages. Those messages can be
// lost without any status ever saying so: the FERRY_TASKS or FERRY_STATUS
// stream deleted (or a NATS server that lost its store), the job's consumer
// removed, or a message dropped after max-deliver deliveries. A job whose
// tasks were lost that way would wait forever. So, now and then, the engine
// asks JetStream: if the job's consumers are gone, the streams must be
// re-created and the incomplete tasks re-sent (a resume); if no task message
// is waiting or held by a worker and no status is waiting, every task the
// ledger still has in flight is lost and must be re-sent. Either way the engine
// ends and the controller starts a new one: a resume, which re-creates the
// streams and consumers and re-sends every incomplete task in a new epoch.
import type { JetStreamManager } from '@nats-io/jetstream';
import { streams } from '../../api/names.ts';
import { statusConsumerName, taskConsumerName } from '../../api/tasks.ts';

/** JetStream lost the job's stream or consumer: they must be re-created, and what they held re-sent. */
export class LostStreamError extends Error {}

/** JetStream API error codes: stream not found, consumer not found. */
const notFoundCodes = new Set([10059, 10014]);

/** Whether `err` says a stream or the job's consumer on it no longer exists. */
export function isLostStream(err: unknown): boolean {
  if (err instanceof LostStreamError) return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number' && notFoundCodes.has(code)) return true;
  return /stream not found|consumer not found|consumer deleted/i.test(String(err));
}

/**
 * Whether `err` is NATS's "no responders" (status 503): nobody listens on the
 * subject asked. On a pull from the job's consumer that is what a consumer
 * that no longer exists answers (a nats-server that lost its store) — but also
 * what JetStream answers while it is still starting.
 */
export function isNoResponders(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | undefined;
  return e?.code === 503 || e?.code === '503' || /no responders/i.test(String(e?.message ?? err));
}

export class DeliveryWatch {
  private readonly jsm: JetStreamManager;
  private readonly jobUid: string;
  private readonly everyMs: number;
  private next: number;

  constructor(jsm: JetStreamManager, jobUid: string, everyMs: number) {
    this.jsm = jsm;
    this.jobUid = jobUid;
    this.everyMs = everyMs;
    this.next = Date.now() + everyMs;
  }

  /**
   * At most every `everyMs`: true when JetStream holds nothing of the job —
   * no task message waiting or held by a worker, no status waiting — so
   * whatever the ledger read *after* this call still has in flight is lost.
   * Throws LostStreamError when a stream or consumer of the job is gone.
   */
  async nothingInTransit(): Promise<boolean> {
    if (Date.now() < this.next) return false;
    this.next = Date.now() + this.everyMs;
    // Tasks first: a worker acknowledges a task only after its status is stored,
    // so a task that left the tasks consumer has its status in the status stream.
    const tasks = await this.pending(streams.tasks, taskConsumerName(this.jobUid));
    const status = await this.pending(streams.status, statusConsumerName(this.jobUid));
    return tasks === 0 && status === 0;
  }

  /**
   * What a failed engine step's `err` means for the job's streams. A "no
   * responders" on a pull is asked about at once: when JetStream's API says
   * a stream or consumer of the job is gone, the step's error is a
   * LostStreamError (the engine ends and the resume re-creates them) rather
   * than an outage retried for a minute; when the API does not answer
   * either, JetStream is starting, and `err` is returned as it was.
   */
  async explain(err: unknown): Promise<unknown> {
    if (!isNoResponders(err)) return err;
    try {
      await this.pending(streams.tasks, taskConsumerName(this.jobUid));
      await this.pending(streams.status, statusConsumerName(this.jobUid));
    } catch (asked) {
      if (asked instanceof LostStreamError) return asked;
    }
    return err;
  }

  private async pending(stream: string, consumer: string): Promise<number> {
    try {
      const info = await this.jsm.consumers.info(stream, consumer);
      return info.num_pending + info.num_ack_pending;
    } catch (err) {
      if (!isLostStream(err)) throw err;
      throw new LostStreamError(`JetStream lost ${stream} or the job's consumer ${consumer} on it`, {
        cause: err,
      });
    }
  }
}
