// Whether another replica's lease is still held, judged on this replica's own
// clock, as client-go's leader election judges it: a lease expires a lease
// duration after this replica last saw its record change, not at the
// holder's `renewTime` plus the duration. renewTime is the holder's wall
// clock; compared with ours, a skew of more than lease duration minus retry
// period (about 13 s with the defaults) would let a standby take a healthy
// leader's lease. Our monotonic clock measures how long the record has stood
// still, which no skew can shorten.
import type * as k8s from '@kubernetes/client-node';

/** Milliseconds on a clock that never goes back (performance.now, or a test's). */
export type MonotonicClock = () => number;

/** The fields a holder rewrites on every renewal: any change among them is a renewal seen. */
function recordOf(spec: k8s.V1LeaseSpec): string {
  return JSON.stringify([
    spec.holderIdentity ?? '',
    spec.renewTime ? new Date(spec.renewTime).toISOString() : '',
    spec.acquireTime ? new Date(spec.acquireTime).toISOString() : '',
    spec.leaseTransitions ?? 0,
    spec.leaseDurationSeconds ?? 0,
  ]);
}

export class LeaseObservation {
  private readonly clock: MonotonicClock;
  private record: string | undefined;
  private observedAt = 0;

  constructor(clock: MonotonicClock) {
    this.clock = clock;
  }

  /**
   * Notes the lease as just read; true while another holder's lease is valid:
   * its record changed less than its lease duration ago on our clock. A lease
   * first seen counts from now, so a new candidate waits a whole duration.
   */
  heldByAnother(spec: k8s.V1LeaseSpec, identity: string, defaultDurationMs: number): boolean {
    const now = this.clock();
    const record = recordOf(spec);
    if (record !== this.record) {
      this.record = record;
      this.observedAt = now;
    }
    if (!spec.holderIdentity || spec.holderIdentity === identity) return false;
    const durationMs = spec.leaseDurationSeconds ? spec.leaseDurationSeconds * 1000 : defaultDurationMs;
    return now < this.observedAt + durationMs;
  }

  /** The record this replica wrote: seen now, so its own write does not count as another's renewal later. */
  wrote(spec: k8s.V1LeaseSpec): void {
    this.record = recordOf(spec);
    this.observedAt = this.clock();
  }
}
