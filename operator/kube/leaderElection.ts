// Leader election with a coordination.k8s.io Lease, as client-go does it: the
// leader renews the lease every retry period; a candidate takes the lease once
// it has not been renewed for a lease duration. Every write carries the lease's
// resourceVersion, so two candidates can never both win the same round.
//
// A leader that cannot renew within the renew deadline steps down by calling
// onStoppedLeading; the operator then exits, so a fresh process (with empty
// caches and no half-done reconcile) becomes a candidate again. See ADR 0003.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../../common/logging.ts';

export interface LeaderElectionConfig {
  namespace: string;
  leaseName: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export class LeaderElector {
  private readonly api: k8s.CoordinationV1Api;
  private readonly config: LeaderElectionConfig;
  private readonly log: Logger;
  private stopped = false;
  private leading = false;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(kc: k8s.KubeConfig, config: LeaderElectionConfig, log: Logger) {
    this.api = kc.makeApiClient(k8s.CoordinationV1Api);
    this.config = config;
    this.log = log;
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
        this.lastRenew = Date.now();
        if (!this.leading) {
          this.leading = true;
          this.log.info('became leader', { lease: this.config.leaseName, identity: this.config.identity });
          callbacks.onStartedLeading();
        }
      } else if (this.leading && Date.now() - this.lastRenew > this.config.renewDeadlineMs) {
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

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, leaseName: name, identity } = this.config;
    const now = new k8s.V1MicroTime();
    const leaseDurationSeconds = Math.ceil(this.config.leaseDurationMs / 1000);
    let lease: k8s.V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      await this.api.createNamespacedLease({
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
      return true;
    }
    const spec = lease.spec ?? {};
    const heldByMe = spec.holderIdentity === identity;
    if (!heldByMe && spec.holderIdentity) {
      const renewedAt = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
      const expiresAt = renewedAt + (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
      if (Date.now() < expiresAt) return false;
    }
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
      await this.api.replaceNamespacedLease({ name, namespace, body: lease });
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
