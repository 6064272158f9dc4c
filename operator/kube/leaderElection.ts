// Leader election with a coordination.k8s.io Lease, as client-go does it: the
// leader renews the lease every retry period; a candidate takes the lease once
// it has not seen it renewed for a lease duration, measured on its own
// monotonic clock (leaseObservation.ts), never by comparing the holder's
// renewTime with its own wall clock. Every write carries the lease's
// resourceVersion, so two candidates can never both win the same round.
//
// A leader that cannot renew within the renew deadline steps down by calling
// onStoppedLeading; the operator then exits, so a fresh process (with empty
// caches and no half-done reconcile) becomes a candidate again. See ADR 0003.
import * as k8s from '@kubernetes/client-node';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../common/logging.ts';
import { LeaseObservation, type MonotonicClock } from './leaseObservation.ts';

export interface LeaderElectionConfig {
  namespace: string;
  leaseName: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

/** The Lease calls the elector makes (k8s.CoordinationV1Api's). */
export type LeaseApi = Pick<
  k8s.CoordinationV1Api,
  'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'
>;

/** The elector's clocks: the monotonic one times leases; the wall clock only stamps renewTime for people. */
export interface ElectionClocks {
  monotonic: MonotonicClock;
  wall: () => Date;
}

const systemClocks: ElectionClocks = { monotonic: () => performance.now(), wall: () => new Date() };

export class LeaderElector {
  private readonly api: LeaseApi;
  private readonly config: LeaderElectionConfig;
  private readonly log: Logger;
  private readonly clocks: ElectionClocks;
  private readonly observed: LeaseObservation;
  private stopped = false;
  private leading = false;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    api: LeaseApi,
    config: LeaderElectionConfig,
    log: Logger,
    clocks: ElectionClocks = systemClocks,
  ) {
    this.api = api;
    this.config = config;
    this.log = log;
    this.clocks = clocks;
    this.observed = new LeaseObservation(clocks.monotonic);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Campaigns until elected, then keeps renewing; calls back on both transitions. */
  run(callbacks: { onStartedLeading: () => void; onStoppedLeading: () => void }): void {
    const tick = async () => {
      if (this.stopped) return;
      let acquired = false;
      try {
        // A round that hangs (a connection that went silent) must not keep a leader past its
        // renew deadline: the round is given up on the elector's own clock.
        acquired = await withDeadline(this.tryAcquireOrRenew(), this.config.renewDeadlineMs);
      } catch (err) {
        this.log.warn('leader election round failed', { error: String(err) });
      }
      if (acquired) {
        this.lastRenew = this.clocks.monotonic();
        if (!this.leading) {
          this.leading = true;
          this.log.info('became leader', { lease: this.config.leaseName, identity: this.config.identity });
          callbacks.onStartedLeading();
        }
      } else if (this.leading && this.clocks.monotonic() - this.lastRenew > this.config.renewDeadlineMs) {
        this.leading = false;
        this.log.error('lost leadership: could not renew the lease in time', {
          lease: this.config.leaseName,
        });
        callbacks.onStoppedLeading();
        return;
      }
      if (!this.stopped) this.timer = setTimeout(tick, this.config.retryPeriodMs);
    };
    void tick();
  }

  /** Stops campaigning; a leader releases the lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    const { namespace, leaseName: name } = this.config;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity === this.config.identity) {
        lease.spec.holderIdentity = undefined;
        lease.spec.renewTime = undefined;
        lease.spec.acquireTime = undefined;
        await this.api.replaceNamespacedLease({ name, namespace, body: lease });
      }
    } catch (err) {
      this.log.warn('could not release the lease', { error: String(err) });
    }
  }

  /** One round: true when this replica holds the lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, leaseName: name, identity } = this.config;
    const now = new k8s.V1MicroTime(this.clocks.wall().getTime());
    const leaseDurationSeconds = Math.ceil(this.config.leaseDurationMs / 1000);
    let lease: k8s.V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      const created = await this.api.createNamespacedLease({
        namespace,
        body: {
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: 0,
          },
        },
      });
      this.observed.wrote(created.spec ?? {});
      return true;
    }
    const spec = lease.spec ?? {};
    const heldByMe = spec.holderIdentity === identity;
    if (this.observed.heldByAnother(spec, identity, this.config.leaseDurationMs)) return false;
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds,
      renewTime: now,
      acquireTime: heldByMe ? spec.acquireTime : now,
      leaseTransitions: heldByMe ? spec.leaseTransitions : (spec.leaseTransitions ?? 0) + 1,
    };
    try {
      // resourceVersion in the body makes this a compare-and-swap.
      const written = await this.api.replaceNamespacedLease({ name, namespace, body: lease });
      this.observed.wrote(written.spec ?? lease.spec);
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 409) return false; // someone else wrote first
      throw err;
    }
  }
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
