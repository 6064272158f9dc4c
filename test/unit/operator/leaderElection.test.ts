// Leader election under clock skew: a standby judges a lease on its own
// monotonic clock (how long it has seen the record unchanged), never by the
// holder's renewTime against its own wall clock.
import * as k8s from '@kubernetes/client-node';
import { silentLogger } from '../../../common/logging.ts';
import { LeaderElector, type ElectionClocks, type LeaseApi } from '../../../operator/kube/leaderElection.ts';

/** One Lease held as the API server holds it: a resourceVersion per write, replace as compare-and-swap. */
class LeaseStore implements LeaseApi {
  lease: k8s.V1Lease | undefined;
  private version = 0;

  async readNamespacedLease(): Promise<k8s.V1Lease> {
    if (!this.lease) throw Object.assign(new Error('not found'), { code: 404 });
    return structuredClone(this.lease);
  }

  async createNamespacedLease({ body }: { body: k8s.V1Lease }): Promise<k8s.V1Lease> {
    if (this.lease) throw Object.assign(new Error('exists'), { code: 409 });
    return this.write(body);
  }

  async replaceNamespacedLease({ body }: { body: k8s.V1Lease }): Promise<k8s.V1Lease> {
    if (body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion)
      throw Object.assign(new Error('conflict'), { code: 409 });
    return this.write(body);
  }

  private write(body: k8s.V1Lease): k8s.V1Lease {
    this.version += 1;
    this.lease = structuredClone({
      ...body,
      metadata: { ...body.metadata, resourceVersion: `${this.version}` },
    });
    return structuredClone(this.lease);
  }
}

/** A replica's clocks: a shared monotonic time, its wall clock `skewMs` off the true time. */
function clocksOf(time: { ms: number }, skewMs: number): ElectionClocks {
  const epoch = Date.parse('2026-12-02T12:00:00Z');
  return { monotonic: () => time.ms, wall: () => new Date(epoch + time.ms + skewMs) };
}

const config = (identity: string) => ({
  namespace: 'ferry-system',
  leaseName: 'ferry-operator',
  identity,
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
});

describe('leader election under clock skew', () => {
  const cases: Record<string, { leaderSkewMs: number; standbySkewMs: number }> = {
    'the leader 60 s behind': { leaderSkewMs: -60_000, standbySkewMs: 0 },
    'the standby 60 s ahead': { leaderSkewMs: 0, standbySkewMs: 60_000 },
    'the standby an hour ahead': { leaderSkewMs: 0, standbySkewMs: 3_600_000 },
    'no skew': { leaderSkewMs: 0, standbySkewMs: 0 },
  };

  it.each(Object.entries(cases))(
    'a standby does not take a lease its holder keeps renewing (%s)',
    async (_, { leaderSkewMs, standbySkewMs }) => {
      const store = new LeaseStore();
      const time = { ms: 0 };
      const leader = new LeaderElector(store, config('leader'), silentLogger, clocksOf(time, leaderSkewMs));
      const standby = new LeaderElector(
        store,
        config('standby'),
        silentLogger,
        clocksOf(time, standbySkewMs),
      );
      expect(await leader.tryAcquireOrRenew()).toBe(true);
      // A minute of rounds, every retry period: the leader renews, the standby tries.
      for (; time.ms < 60_000; time.ms += 2_000) {
        expect(await leader.tryAcquireOrRenew()).toBe(true);
        expect(await standby.tryAcquireOrRenew()).toBe(false);
      }
      expect(store.lease?.spec?.holderIdentity).toBe('leader');
    },
  );

  it('a standby takes a lease its holder stopped renewing, a lease duration after it last saw it change', async () => {
    const store = new LeaseStore();
    const time = { ms: 0 };
    const leader = new LeaderElector(store, config('leader'), silentLogger, clocksOf(time, -60_000));
    const standby = new LeaderElector(store, config('standby'), silentLogger, clocksOf(time, 60_000));
    await leader.tryAcquireOrRenew();
    time.ms = 1_000;
    expect(await standby.tryAcquireOrRenew()).toBe(false); // first seen now: the lease counts from here
    time.ms = 15_999;
    expect(await standby.tryAcquireOrRenew()).toBe(false);
    time.ms = 16_000;
    expect(await standby.tryAcquireOrRenew()).toBe(true);
    expect(store.lease?.spec).toMatchObject({ holderIdentity: 'standby', leaseTransitions: 1 });
    // The old leader, back, sees the new holder's record as new and waits its turn.
    expect(await leader.tryAcquireOrRenew()).toBe(false);
  });

  it('a released lease (no holder) is taken at once', async () => {
    const store = new LeaseStore();
    const time = { ms: 0 };
    const leader = new LeaderElector(store, config('leader'), silentLogger, clocksOf(time, 0));
    const standby = new LeaderElector(store, config('standby'), silentLogger, clocksOf(time, 0));
    await leader.tryAcquireOrRenew();
    store.lease!.spec = { ...store.lease!.spec, holderIdentity: undefined, renewTime: undefined };
    expect(await standby.tryAcquireOrRenew()).toBe(true);
  });
});
