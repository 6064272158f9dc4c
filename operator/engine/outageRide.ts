// Rides a running job's engine through an outage of what it depends on: a
// store it lists, the ledger's etcd, nats-server (ADR 0008, ADR 0030).
//
// A restart makes the engine's requests fail for a few seconds. Giving up
// then would start a new engine, a resume: a new epoch and every incomplete
// task sent again, though the tasks already queued in the (file-backed)
// stream are still there and would be copied twice. Nothing is lost by
// waiting instead: statuses stay in their stream until the ledger committed
// them, and a plan goes on from its checkpoint. So the engine retries its
// step, and tells the job's status what it waits for (`onChange`: the
// Degraded condition and an event, once per outage).
//
// A recognised outage (outage.ts) is waited out however long it lasts: a
// resume would need the same store, etcd and NATS, so it could only add
// work; the pause between tries grows to `maxPauseMs`, longer still while
// the ledger is out of space (its alarm needs a person; fast retries only
// add load). The engine gives up (the controller then starts a new engine:
// a resume) only when JetStream lost the job's stream or tasks — waiting
// cannot bring them back; the resume re-creates the streams and re-sends the
// incomplete tasks — or when an error it does not recognise keeps failing
// for longer than `limitMs`.
import type { Logger } from '../../common/logging.ts';
import { isLostStream } from '../dispatch/deliveryWatch.ts';
import { outageOf, OutageReason, type Outage } from './outage.ts';

export interface OutageRideSettings {
  /** An unrecognised error that keeps failing this long ends the engine. */
  limitMs: number;
  /** The first pause; each failure doubles it up to maxPauseMs. */
  pauseMs: number;
  maxPauseMs: number;
  /** The pause while the ledger is out of space. */
  outOfSpacePauseMs: number;
}

const defaults: OutageRideSettings = {
  limitMs: 60_000,
  pauseMs: 1_000,
  maxPauseMs: 10_000,
  outOfSpacePauseMs: 15_000,
};

export class OutageRide {
  private readonly log: Logger;
  private readonly settings: OutageRideSettings;
  private readonly onChange: (outage: Outage | undefined) => void;
  private since: number | undefined;
  private failures = 0;
  private current: Outage | undefined;

  /** `onChange`: told when an outage starts, changes what it is, or ends (undefined). */
  constructor(
    log: Logger,
    onChange: (outage: Outage | undefined) => void = () => {},
    settings: Partial<OutageRideSettings> = {},
  ) {
    this.log = log;
    this.onChange = onChange;
    this.settings = { ...defaults, ...settings };
  }

  /** The outage the engine waits out now, if any. */
  get outage(): Outage | undefined {
    return this.current;
  }

  /** The step went through: any outage is over. */
  ok(): void {
    if (this.since === undefined) return;
    this.log.info('reachable again: the engine goes on', {
      outageMs: Date.now() - this.since,
      was: this.current?.reason,
    });
    this.since = undefined;
    this.failures = 0;
    if (this.current) {
      this.current = undefined;
      this.onChange(undefined);
    }
  }

  /** The step failed with `err`: rethrows it when waiting cannot help, else waits before the next try. */
  async failed(err: unknown): Promise<void> {
    if (isLostStream(err)) throw err;
    const now = Date.now();
    this.since ??= now;
    this.failures += 1;
    const outage = outageOf(err);
    if (!outage && now - this.since > this.settings.limitMs) throw err;
    if (outage) this.note(outage, now);
    this.log.warn('task engine step failed; retrying', {
      error: String(err),
      outage: outage?.reason ?? 'unrecognised',
      failures: this.failures,
    });
    await new Promise((r) => setTimeout(r, this.pauseMs(outage)));
  }

  private note(outage: Omit<Outage, 'since'>, now: number): void {
    if (this.current?.reason === outage.reason && this.current.message === outage.message) return;
    // The same outage keeps the time it began; another one starts its own.
    const since = this.current?.reason === outage.reason ? this.current.since : new Date(now).toISOString();
    this.current = { ...outage, since };
    this.onChange(this.current);
  }

  private pauseMs(outage: Omit<Outage, 'since'> | undefined): number {
    const { pauseMs, maxPauseMs, outOfSpacePauseMs } = this.settings;
    if (outage?.reason === OutageReason.LedgerOutOfSpace) return outOfSpacePauseMs;
    return Math.min(maxPauseMs, pauseMs * 2 ** Math.min(this.failures - 1, 16));
  }
}
