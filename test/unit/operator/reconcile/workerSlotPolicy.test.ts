import type * as k8s from '@kubernetes/client-node';
import type { Condition } from '../../../../api/v1alpha1/index.ts';
import { workerSlotPolicy } from '../../../../operator/reconcile/workerSlotPolicy.ts';
import { desiredWorkerPod } from '../../../../operator/reconcile/workerPods.ts';
import {
  failed,
  job,
  ready,
  settings,
  withFinalizer,
  withReplicas,
  workerPod,
} from '../../../support/fixtures.ts';
import { applied, condition, now, summary } from './fixtures.ts';

const j = job('copy', withFinalizer, withReplicas('source', 2));
const changed = structuredClone(j);
changed.spec.workers = { ...changed.spec.workers, source: { replicas: 2, concurrency: 3 } };
const destination = workerPod(j, 'destination', 0, 0, ready);

function plan(pods: k8s.V1Pod[], conditions: Condition[] = [], of = j) {
  const outcome = workerSlotPolicy({ job: of, pods, tokenSecretExists: true, now }, settings, conditions);
  const readyCondition = applied(outcome.conditions).find((c) => c.type === 'Ready');
  return { ...outcome, ready: `${readyCondition?.status}/${readyCondition?.reason}` };
}

describe('workerSlotPolicy', () => {
  const cases: Record<
    string,
    {
      pods: k8s.V1Pod[];
      of?: typeof j;
      conditions?: Condition[];
      actions: string[];
      ready: string;
      events?: string[];
    }
  > = {
    'empty slots each get their first pod': {
      pods: [],
      actions: ['CreatePod copy-source-0-0', 'CreatePod copy-source-1-0', 'CreatePod copy-destination-0-0'],
      ready: 'False/WorkersStarting',
    },
    'every slot with a ready pod: nothing to do, Ready': {
      pods: [workerPod(j, 'source', 0, 0, ready), workerPod(j, 'source', 1, 0, ready), destination],
      actions: [],
      ready: 'True/WorkersReady',
    },
    'a job that was ready and lost a pod is not ready (not starting)': {
      pods: [workerPod(j, 'source', 0, 0, ready), workerPod(j, 'source', 1, 0), destination],
      conditions: [condition('Ready', 'True', 'WorkersReady')],
      actions: [],
      ready: 'False/WorkersNotReady',
    },
    'a failed pod past its back-off is replaced in its slot, with a Warning': {
      pods: [
        workerPod(j, 'source', 0, 2, failed(137, '2026-11-24T11:59:00Z')),
        workerPod(j, 'source', 1, 0, ready),
        destination,
      ],
      actions: ['CreatePod copy-source-0-3', 'DeletePod copy-source-0-2'],
      ready: 'False/WorkersStarting',
      events: ['WorkerPodRecreated'],
    },
    'a lingering duplicate in a slot goes; the newest stays': {
      pods: [
        workerPod(j, 'source', 0, 0, ready),
        workerPod(j, 'source', 0, 1, ready),
        workerPod(j, 'source', 1, 0, ready),
        destination,
      ],
      actions: ['DeletePod copy-source-0-0'],
      ready: 'True/WorkersReady',
    },
    'pods beyond the replica count go': {
      pods: [
        workerPod(j, 'source', 0, 0, ready),
        workerPod(j, 'source', 1, 0, ready),
        destination,
        workerPod(j, 'destination', 1, 0, ready),
      ],
      actions: ['DeletePod copy-destination-1-0'],
      ready: 'True/WorkersReady',
    },
    'outdated ready pods roll one at a time': {
      of: changed,
      pods: [workerPod(j, 'source', 0, 0, ready), workerPod(j, 'source', 1, 0, ready), destination],
      actions: ['DeletePod copy-source-0-0'],
      ready: 'False/WorkersStarting',
      events: ['WorkerPodOutdated'],
    },
    'outdated pods that are not ready all go at once': {
      of: changed,
      pods: [workerPod(j, 'source', 0, 0), workerPod(j, 'source', 1, 0), destination],
      actions: ['DeletePod copy-source-0-0', 'DeletePod copy-source-1-0'],
      ready: 'False/WorkersStarting',
      events: ['WorkerPodOutdated', 'WorkerPodOutdated'],
    },
  };
  it.each(Object.entries(cases))('%s', (_, c) => {
    const outcome = plan(c.pods, c.conditions, c.of);
    expect(summary(outcome.actions)).toEqual(c.actions);
    expect(outcome.ready).toBe(c.ready);
    expect(outcome.events?.map((e) => e.reason)).toEqual(c.events ?? []);
  });

  // Base 2 s, cap 60 s (the fixtures' settings): base·2^failures, capped.
  const backoffs: Record<string, { failures: number; waitMs: number }> = {
    'a first failure waits the base back-off': { failures: 0, waitMs: 2_000 },
    'a second waits twice as long': { failures: 1, waitMs: 4_000 },
    'a fifth waits 2^4 times the base': { failures: 4, waitMs: 32_000 },
    'a sixth reaches the cap': { failures: 5, waitMs: 60_000 },
    'an eleventh stays at the cap': { failures: 10, waitMs: 60_000 },
  };
  it.each(Object.entries(backoffs))('%s', (_, { failures, waitMs }) => {
    const fell = desiredWorkerPod(j, 'source', 0, failures, settings, failures);
    failed(1, '2026-11-24T11:59:59Z')(fell); // 1 s ago
    const outcome = plan([fell, workerPod(j, 'source', 1, 0, ready), destination]);
    expect(outcome.actions).toEqual([]);
    expect(outcome.requeueAfterMs).toBe(waitMs - 1_000);
  });

  describe('a pod killed from outside is not a crashing pod', () => {
    /** A pod of slot source-0 carrying `failures`, ended 1 s ago by `exitCode` (reason `reason`) after running `ranMs`. */
    function ended(failures: number, exitCode: number, ranMs = 10_000, reason = 'Error') {
      const pod = desiredWorkerPod(j, 'source', 0, failures, settings, failures);
      failed(exitCode, '2026-11-24T11:59:59Z')(pod);
      const terminated = pod.status!.containerStatuses![0]!.state!.terminated!;
      terminated.reason = reason;
      terminated.startedAt = new Date(terminated.finishedAt!.getTime() - ranMs);
      return pod;
    }
    const replacementFailures = (outcome: ReturnType<typeof plan>) => {
      const create = outcome.actions?.find((a) => a.kind === 'CreatePod');
      return create?.kind === 'CreatePod'
        ? create.pod.metadata!.annotations!['ferry.dev/slot-failures']
        : undefined;
    };
    const others = [workerPod(j, 'source', 1, 0, ready), destination];

    it('a SIGKILLed pod of a slot with many failures waits only the base back-off', () => {
      expect(plan([ended(5, 137), ...others]).requeueAfterMs).toBe(2_000 - 1_000);
    });

    it("a SIGKILLed pod's replacement carries the slot's failures unchanged", () => {
      // Ended 1 s ago, base 2 s: not yet. Ended 10 s ago: replaced.
      expect(plan([ended(3, 137), ...others]).actions).toEqual([]);
      const pod = ended(3, 137);
      pod.status!.containerStatuses![0]!.state!.terminated!.finishedAt = new Date('2026-11-24T11:59:50Z');
      expect(replacementFailures(plan([pod, ...others]))).toBe('3');
    });

    it('ten kills in a row never lengthen the back-off', () => {
      let failures = 0;
      for (let kill = 0; kill < 10; kill++) {
        const pod = ended(failures, 137);
        pod.status!.containerStatuses![0]!.state!.terminated!.finishedAt = new Date('2026-11-24T11:59:50Z');
        failures = Number(replacementFailures(plan([pod, ...others])));
      }
      expect(failures).toBe(0);
    });

    it('an OOMKilled pod counts as a failure', () => {
      expect(plan([ended(3, 137, 10_000, 'OOMKilled'), ...others]).requeueAfterMs).toBe(16_000 - 1_000);
    });

    it('a pod that exits with an error counts as a failure', () => {
      expect(plan([ended(3, 1), ...others]).requeueAfterMs).toBe(16_000 - 1_000);
    });

    it("a pod that ran healthy for a while starts its slot's count again", () => {
      expect(plan([ended(6, 1, 5 * 60_000), ...others]).requeueAfterMs).toBe(2_000 - 1_000);
    });

    it('a pod that crashes soon after it started keeps doubling', () => {
      expect(plan([ended(6, 1, 30_000), ...others]).requeueAfterMs).toBe(60_000 - 1_000);
    });
  });

  it('counts the ready pods of each role in status.workers', () => {
    const outcome = plan([workerPod(j, 'source', 0, 0, ready), workerPod(j, 'source', 1, 0), destination]);
    expect(outcome.status?.workers).toEqual({ sourceReady: 1, destinationReady: 1 });
  });
});
