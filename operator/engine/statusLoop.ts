// The one loop a job's engine waits in, while planning and after it: ingest a
// batch of statuses, ask JetStream whether it still holds the job's tasks,
// then let the phase act (retry failures, summarize, decide it is over). A
// NATS or etcd outage is ridden through rather than ended in a resume (ADR
// 0008, outageRide.ts); a lost stream ends the engine, and the resume re-sends.
import { setTimeout as sleep } from 'node:timers/promises';
import type { DeadWorkerTasks } from '../dispatch/deadWorkerTasks.ts';
import type { DeliveryWatch } from '../dispatch/deliveryWatch.ts';
import { LostStreamError } from '../dispatch/deliveryWatch.ts';
import type { StatusIngestor } from '../dispatch/statusIngest.ts';
import type { LedgerSummary, TaskLedger, UpdateOutcome } from '../ledger/taskLedger.ts';
import type { OutageRide } from './outageRide.ts';

/** With no status arriving, the ledger (and JetStream, DeliveryWatch) is still looked at this often. */
export const idleCheckMs = 5_000;
/** Retry rounds (a scan of the ledger, or of the failed copies) run at most this often. */
const roundIntervalMs = 1_000;
/** A pull for statuses waits at most this long when none come. */
const pullMs = 1_000;
/** The ledger summary is read at most this often relative to its cost. */
const summaryCostFactor = 10;

/** What one pass of the loop found. */
export interface LoopPass {
  /** The statuses just recorded in the ledger. */
  outcomes: readonly UpdateOutcome[];
  /** JetStream holds nothing of the job (DeliveryWatch): what the ledger has in flight now is lost. */
  lost: boolean;
}

export interface LoopPhase<End> {
  /** Checked before every pass: an end the phase reached without another (planning's window has room). */
  settled?(): End | undefined;
  /** A summary owed this soon: the pass waits for it instead of pulling statuses (Infinity: pull). */
  summaryDueInMs?(): number;
  /** Acts on one pass; an end value ends the loop. An error is taken for an outage and ridden out. */
  pass(pass: LoopPass): Promise<End | undefined>;
}

export interface StatusLoop {
  ingestor: StatusIngestor;
  delivery: DeliveryWatch;
  outage: OutageRide;
  /** Sends again the tasks held by workers seen dead (dispatch/deadWorkerTasks.ts). */
  deadWorkerTasks?: DeadWorkerTasks;
  /** The engine was stopped: the loop returns undefined. */
  stopped(): boolean;
}

/** Runs passes of `phase` until one returns an end (or `settled` does), or the engine stops (undefined). */
export async function runStatusLoop<End>(loop: StatusLoop, phase: LoopPhase<End>): Promise<End | undefined> {
  while (!loop.stopped()) {
    const settled = phase.settled?.();
    if (settled !== undefined) return settled;
    try {
      const dueInMs = phase.summaryDueInMs?.() ?? Infinity;
      const outcomes =
        dueInMs < pullMs
          ? (await sleep(Math.max(0, dueInMs)), [])
          : await loop.ingestor.ingestBatch(512, pullMs);
      loop.deadWorkerTasks?.observe(outcomes);
      await loop.deadWorkerTasks?.resend();
      const lost = await loop.delivery.nothingInTransit();
      const end = await phase.pass({ outcomes, lost });
      loop.outage.ok();
      if (end !== undefined) return end;
    } catch (err) {
      await loop.outage.failed(await loop.delivery.explain(err)); // rethrows a lost stream (a resume re-creates it) or a long outage
    }
  }
  return undefined;
}

/** JetStream lost `count` tasks the ledger has in flight: the engine ends, and the resume re-sends them. */
export function lostInFlight(count: number, what: string): LostStreamError {
  return new LostStreamError(`JetStream holds none of the ${count} ${what}: they were lost`);
}

/** When the next retry round is due: a round's earliest back-off, but not sooner than the interval. */
export class RetryRounds {
  private nextAt = 0;

  due(now: number): boolean {
    return now >= this.nextAt;
  }

  ran(now: number, nextDueAt: number | undefined): void {
    this.nextAt = Math.max(now + roundIntervalMs, nextDueAt ?? 0);
  }
}

/**
 * Reading the whole ledger costs O(tasks): at a hundred million objects it
 * must not run after every batch. Spaced to ten times its own cost (and at
 * least `minSpacingMs`), it takes at most a tenth of the engine's time.
 */
export class LedgerSummaries {
  private nextAt = 0;
  private readonly ledger: TaskLedger;
  private readonly minSpacingMs: number;

  constructor(ledger: TaskLedger, minSpacingMs = 0) {
    this.ledger = ledger;
    this.minSpacingMs = minSpacingMs;
  }

  /** Milliseconds until the next summary may be read (≤ 0: now). */
  dueInMs(now = Date.now()): number {
    return this.nextAt - now;
  }

  async read(): Promise<LedgerSummary> {
    const began = Date.now();
    const summary = await this.ledger.summarize();
    const cost = Date.now() - began;
    this.nextAt = Date.now() + Math.max(this.minSpacingMs, summaryCostFactor * cost);
    return summary;
  }
}
