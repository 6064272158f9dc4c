// Leader election against the real kube-apiserver, with the leader's wall
// clock a minute behind (issue 15): the standby must not take a lease the
// leader keeps renewing, and must take it once the leader stops renewing.
import { performance } from 'node:perf_hooks';
import * as k8s from '@kubernetes/client-node';
import { silentLogger } from '../../../common/logging.ts';
import { LeaderElector } from '../../../operator/kube/leaderElection.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { kubeConfigFor } from '../../support/kube.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('leader election with a skewed clock, on the kube-apiserver', () => {
  const namespace = 'default';
  const leaseName = `ferry-skew-${Date.now()}`;
  const api = kubeConfigFor(bedEndpoints().kubeconfig).makeApiClient(k8s.CoordinationV1Api);
  const config = (identity: string) => ({
    namespace,
    leaseName,
    identity,
    leaseDurationMs: 3_000,
    renewDeadlineMs: 2_000,
    retryPeriodMs: 500,
  });
  const monotonic = () => performance.now();
  afterAll(async () => {
    await api.deleteNamespacedLease({ name: leaseName, namespace }).catch(() => {});
  });

  it('keeps a renewing leader whose clock is 60 s behind, and hands over once it stops', async () => {
    const behind = new LeaderElector(api, config('behind'), silentLogger, {
      monotonic,
      wall: () => new Date(Date.now() - 60_000),
    });
    const standby = new LeaderElector(api, config('standby'), silentLogger);
    expect(await behind.tryAcquireOrRenew()).toBe(true);
    // Four lease durations of rounds: the leader renews, the standby tries.
    for (let i = 0; i < 24; i++) {
      await sleep(500);
      expect(await behind.tryAcquireOrRenew()).toBe(true);
      expect(await standby.tryAcquireOrRenew()).toBe(false);
    }
    // The leader stops renewing (a crash): the standby takes over a lease duration after its last renewal.
    const stoppedAt = performance.now();
    while (!(await standby.tryAcquireOrRenew())) {
      if (performance.now() - stoppedAt > 10_000) throw new Error('the standby never took the lease');
      await sleep(250);
    }
    const tookMs = performance.now() - stoppedAt;
    console.log(`standby took the lease ${Math.round(tookMs)} ms after the leader's last renewal`);
    expect(tookMs).toBeGreaterThanOrEqual(2_500);
    const lease = await api.readNamespacedLease({ name: leaseName, namespace });
    expect(lease.spec).toMatchObject({ holderIdentity: 'standby', leaseTransitions: 1 });
  }, 60_000);
});
