// Rides a running job's engine through a NATS or etcd outage.
//
// A nats-server or etcd restart makes the engine's requests fail for a few
// seconds. Giving up then would start a new engine, a resume: a new epoch and
// every incomplete task sent again, though the tasks already queued in the
// (file-backed) stream are still there and would be copied twice. Nothing is
// lost by waiting instead: statuses stay in their stream until the ledger
// committed them. So the engine retries its step, and gives up (the
// controller then starts a new engine: a resume) only when JetStream lost the
// job's stream or tasks — waiting cannot bring them back; the resume
// re-creates the streams and re-sends the incomplete tasks — or when the
// outage outlasts `limitMs`.
import type { Logger } from '../../common/logging.ts';
import { isLostStream } from '../dispatch/deliveryWatch.ts';

export class OutageRide {
  private readonly log: Logger;
  private readonly limitMs: number;
  private readonly pauseMs: number;
  private since: number | undefined;

  constructor(log: Logger, limitMs = 60_000, pauseMs = 1_000) {
    this.log = log;
    this.limitMs = limitMs;
    this.pauseMs = pauseMs;
  }

  /** The step went through: any outage is over. */
  ok(): void {
    if (this.since === undefined) return;
    this.log.info('NATS and etcd reachable again', { outageMs: Date.now() - this.since });
    this.since = undefined;
  }

  /** The step failed with `err`: rethrows it when waiting cannot help, else waits before the next try. */
  async failed(err: unknown): Promise<void> {
    if (isLostStream(err)) throw err;
    this.since ??= Date.now();
    if (Date.now() - this.since > this.limitMs) throw err;
    this.log.warn('task engine step failed; retrying (NATS or etcd unavailable?)', { error: String(err) });
    await new Promise((r) => setTimeout(r, this.pauseMs));
  }
}
