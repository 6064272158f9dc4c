import type * as k8s from '@kubernetes/client-node';
import type { ReplicationJob } from '../../../../api/v1alpha1/index.ts';
import { annotations, finalizer } from '../../../../api/names.ts';
import { decide, type Action, type Observed } from '../../../../operator/reconcile/decide.ts';
import { desiredWorkerPod, type WorkerPodSettings } from '../../../../operator/reconcile/workerPods.ts';
import { uploadAbortPod } from '../../../../operator/reconcile/uploadAbortPod.ts';
import {
  beingDeleted,
  failed,
  job,
  ready,
  settings,
  suspended,
  withConditions,
  withFinalizer,
  withReplicas,
  withTtl,
  workerPod,
  type JobOption,
} from '../../../support/fixtures.ts';
import { planTotals as totals, summary } from './fixtures.ts';

const now = new Date('2026-11-24T12:00:00Z');

function observe(j: ReplicationJob, pods: Observed['pods'] = [], tokenSecretExists = true): Observed {
  return { job: j, pods, tokenSecretExists, now };
}

/** A ready pod as the operator makes it with `podSettings`. */
function workerPodWith(
  j: ReplicationJob,
  role: 'source' | 'destination',
  index: number,
  restarts: number,
  podSettings: WorkerPodSettings,
) {
  const pod = desiredWorkerPod(j, role, index, restarts, podSettings);
  ready(pod);
  return pod;
}

/** The pod once its deletion has begun. */
function terminating<P extends { metadata?: { deletionTimestamp?: Date } }>(pod: P): P {
  return { ...pod, metadata: { ...pod.metadata, deletionTimestamp: now } };
}

function condition(status: ReturnType<typeof decide>['status'], type: string) {
  return status?.conditions?.find((c) => c.type === type);
}

describe('decide: a new ReplicationJob', () => {
  const decision = decide(observe(job('copy'), [], false), settings);

  it('adds the cleanup finalizer before anything else, then creates the token Secret, the job queues and one pod per worker slot', () => {
    expect(summary(decision.actions)).toEqual([
      'AddFinalizer',
      'CreateTokenSecret',
      'EnsureJobStreams',
      'CreatePod copy-source-0-0',
      'CreatePod copy-destination-0-0',
    ]);
  });

  it('reports the job Pending and in progress (kstatus: Reconciling=True), with an Accepted event', () => {
    expect(decision.status?.phase).toBe('Pending');
    expect(decision.status?.observedGeneration).toBe(1);
    expect(condition(decision.status, 'Reconciling')?.status).toBe('True');
    expect(condition(decision.status, 'Ready')).toMatchObject({ status: 'False', reason: 'WorkersStarting' });
    expect(decision.status?.startTime).toBe('2026-11-24T12:00:00Z');
    expect(decision.events.map((e) => e.reason)).toEqual(['Accepted']);
  });
});

describe('decide: worker pods', () => {
  const j = job('copy', withFinalizer, withReplicas('source', 2));

  it('creates as many source and destination pods as the spec asks for', () => {
    const d = decide(observe(j), settings);
    expect(summary(d.actions)).toEqual([
      'CreatePod copy-source-0-0',
      'CreatePod copy-source-1-0',
      'CreatePod copy-destination-0-0',
    ]);
  });

  it('marks the job Running and Ready once every worker pod is ready, and says so in an event', () => {
    const pods = [
      workerPod(j, 'source', 0, 0, ready),
      workerPod(j, 'source', 1, 0, ready),
      workerPod(j, 'destination', 0, 0, ready),
    ];
    const d = decide(observe(j, pods), settings);
    expect(d.actions).toEqual([]);
    expect(d.status?.phase).toBe('Running');
    expect(d.status?.workers).toEqual({ sourceReady: 2, destinationReady: 1 });
    expect(condition(d.status, 'Ready')).toMatchObject({ status: 'True', reason: 'WorkersReady' });
    expect(d.events.map((e) => e.reason)).toEqual(['Started']);
  });

  it('names why a pod cannot start in the Ready condition (an image that cannot be pulled), not only that it is not ready', () => {
    const pullFails = (pod: ReturnType<typeof workerPod>) => {
      pod.status = {
        phase: 'Pending',
        containerStatuses: [
          {
            name: 'worker',
            image: 'ferry:nope',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: {
              waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "ferry:nope"' },
            },
          },
        ],
      };
    };
    const pods = [
      workerPod(j, 'source', 0, 0, pullFails),
      workerPod(j, 'source', 1, 0, ready),
      workerPod(j, 'destination', 0, 0),
    ];
    const d = decide(observe(j, pods), settings);
    const readiness = condition(d.status, 'Ready');
    expect(readiness).toMatchObject({ status: 'False' });
    expect(readiness?.message).toBe(
      'ready workers: source 1/2, destination 0/1; pod copy-source-0-0 is waiting (ImagePullBackOff: Back-off pulling image "ferry:nope")',
    );
  });

  it('looks past a container that is merely starting, and into init containers, for the reason a pod cannot start', () => {
    const waitingIn = (reason: string, message?: string) => ({
      name: reason,
      image: 'ferry:test',
      imageID: '',
      ready: false,
      restartCount: 0,
      state: { waiting: { reason, ...(message ? { message } : {}) } },
    });
    const stuck =
      (statuses: Pick<k8s.V1PodStatus, 'containerStatuses' | 'initContainerStatuses'>) =>
      (pod: ReturnType<typeof workerPod>) => {
        pod.status = { phase: 'Pending', ...statuses };
      };
    const readyMessage = (statuses: Pick<k8s.V1PodStatus, 'containerStatuses' | 'initContainerStatuses'>) =>
      condition(
        decide(
          observe(j, [
            workerPod(j, 'source', 0, 0, stuck(statuses)),
            workerPod(j, 'source', 1, 0, ready),
            workerPod(j, 'destination', 0, 0, ready),
          ]),
          settings,
        ).status,
        'Ready',
      )?.message;
    expect(
      readyMessage({
        containerStatuses: [waitingIn('ContainerCreating'), waitingIn('ErrImagePull', 'not found')],
      }),
    ).toContain('pod copy-source-0-0 is waiting (ErrImagePull: not found)');
    expect(
      readyMessage({ initContainerStatuses: [waitingIn('CreateContainerConfigError', 'no secret')] }),
    ).toContain('is waiting (CreateContainerConfigError: no secret)');
    expect(readyMessage({ containerStatuses: [waitingIn('ContainerCreating')] })).not.toContain('waiting');
  });

  it('waits out the back-off before replacing a failed pod', () => {
    const pods = [
      workerPod(j, 'source', 0, 0, failed(137, '2026-11-24T11:59:59Z')),
      workerPod(j, 'source', 1, 0, ready),
      workerPod(j, 'destination', 0, 0, ready),
    ];
    const d = decide(observe(j, pods), settings);
    expect(d.actions).toEqual([]);
    expect(d.requeueAfterMs).toBe(1_000); // 2 s back-off, 1 s of it already passed
  });

  it('replaces a failed pod after the back-off, in the same slot, and names the failure in a Warning event', () => {
    const pods = [
      workerPod(j, 'source', 0, 2, failed(137, '2026-11-24T11:59:00Z')),
      workerPod(j, 'source', 1, 0, ready),
      workerPod(j, 'destination', 0, 0, ready),
    ];
    const d = decide(observe(j, pods), settings);
    expect(summary(d.actions)).toEqual(['CreatePod copy-source-0-3', 'DeletePod copy-source-0-2']);
    expect(d.events).toContainEqual(
      expect.objectContaining({
        type: 'Warning',
        reason: 'WorkerPodRecreated',
        message: expect.stringContaining('exit code 137'),
      }),
    );
  });

  it('doubles the back-off with every replacement of the same slot, up to the cap', () => {
    const pods = [workerPod(j, 'source', 0, 3, failed(1, '2026-11-24T11:59:55Z'))];
    expect(decide(observe(j, pods), settings).requeueAfterMs).toBe(16_000 - 5_000);
    const capped = [workerPod(j, 'source', 0, 10, failed(1, '2026-11-24T11:59:55Z'))];
    expect(decide(observe(j, capped), settings).requeueAfterMs).toBe(60_000 - 5_000);
  });

  it('creates a replacement at once when a pod disappears', () => {
    const pods = [workerPod(j, 'source', 1, 0, ready), workerPod(j, 'destination', 0, 0, ready)];
    expect(summary(decide(observe(j, pods), settings).actions)).toEqual(['CreatePod copy-source-0-0']);
  });

  it('removes pods beyond the desired replica count', () => {
    const one = job('copy', withFinalizer);
    const pods = [
      workerPod(one, 'source', 0, 0, ready),
      workerPod(one, 'source', 1, 0, ready),
      workerPod(one, 'destination', 0, 0, ready),
    ];
    expect(summary(decide(observe(one, pods), settings).actions)).toEqual(['DeletePod copy-source-1-0']);
  });

  it('reaches a fixed point: deciding again on its own status changes nothing', () => {
    const pods = [
      workerPod(j, 'source', 0, 0, ready),
      workerPod(j, 'source', 1, 0, ready),
      workerPod(j, 'destination', 0, 0, ready),
    ];
    const first = decide(observe(j, pods), settings);
    const again = decide(observe({ ...j, status: first.status }, pods), { ...settings });
    expect(again.status).toEqual(first.status);
    expect(again.events).toEqual([]);
  });
});

describe('decide: a changed spec.workers', () => {
  it('replaces the pods of the role whose pod spec changed (a new concurrency), and only those', () => {
    const j = job('copy', withFinalizer);
    const pods = [workerPod(j, 'source', 0, 0, ready), workerPod(j, 'destination', 0, 0, ready)];
    const changed = structuredClone(j);
    changed.spec.workers = {
      ...changed.spec.workers,
      source: { ...changed.spec.workers?.source, concurrency: 3 },
    };
    const d = decide(observe(changed, pods), settings);
    expect(summary(d.actions)).toEqual(['DeletePod copy-source-0-0']);
    expect(d.events).toContainEqual(expect.objectContaining({ reason: 'WorkerPodOutdated' }));
    // Unchanged, the same pods stay.
    expect(decide(observe(j, pods), settings).actions).toEqual([]);
  });

  it('rolls the ready pods of a role one at a time, each after the previous replacement is ready', () => {
    const j = job('copy', withFinalizer, withReplicas('source', 3));
    const changed = structuredClone(j);
    changed.spec.workers = { ...changed.spec.workers, source: { replicas: 3, concurrency: 3 } };
    const old = [0, 1, 2].map((i) => workerPod(j, 'source', i, 0, ready));
    const destination = workerPod(j, 'destination', 0, 0, ready);
    const first = decide(observe(changed, [...old, destination]), settings);
    expect(summary(first.actions)).toEqual(['DeletePod copy-source-0-0']);
    // Its replacement is starting (not ready): nothing else rolls; the other old pods keep copying.
    const starting = workerPodWith(changed, 'source', 0, 1, settings);
    starting.status = { phase: 'Pending' };
    const waiting = decide(
      observe(changed, [terminating(old[0]!), starting, old[1]!, old[2]!, destination]),
      settings,
    );
    expect(summary(waiting.actions)).toEqual([]);
    // Once it is ready, the next one goes.
    const next = decide(
      observe(changed, [workerPodWith(changed, 'source', 0, 1, settings), old[1]!, old[2]!, destination]),
      settings,
    );
    expect(summary(next.actions)).toEqual(['DeletePod copy-source-1-0']);
  });

  it('replaces outdated pods that are not ready at once, all of them (they serve nothing)', () => {
    const j = job('copy', withFinalizer, withReplicas('source', 2));
    const changed = structuredClone(j);
    changed.spec.workers = { ...changed.spec.workers, source: { replicas: 2, concurrency: 3 } };
    const d = decide(
      observe(changed, [
        workerPod(j, 'source', 0, 0),
        workerPod(j, 'source', 1, 0),
        workerPod(j, 'destination', 0, 0, ready),
      ]),
      settings,
    );
    expect(summary(d.actions)).toEqual(['DeletePod copy-source-0-0', 'DeletePod copy-source-1-0']);
  });

  it('starts the back-off again after a rollout: failures under the old template do not count', () => {
    const j = job('copy', withFinalizer);
    const changed = structuredClone(j);
    changed.spec.workers = { ...changed.spec.workers, source: { concurrency: 3 } };
    const destination = workerPod(j, 'destination', 0, 0, ready);
    // Three failures under the old template; the rolled pod still terminates.
    const rolled = terminating(workerPod(j, 'source', 0, 3, ready));
    const created = decide(observe(changed, [rolled, destination]), settings).actions;
    expect(summary(created)).toEqual(['CreatePod copy-source-0-4']); // a new name: the old one lingers
    const replacement = (created[0] as Extract<Action, { kind: 'CreatePod' }>).pod;
    expect(replacement.metadata!.annotations).toMatchObject({
      [annotations.slotRestarts]: '4',
      [annotations.slotFailures]: '0',
    });
    // Its first failure waits the base back-off (2 s), not 2^3 times it.
    const failedAt = '2026-11-24T11:59:59Z';
    const fell = { ...replacement, status: {} } as k8s.V1Pod;
    failed(1, failedAt)(fell);
    const d = decide(observe(changed, [fell, destination]), settings);
    expect(d.requeueAfterMs).toBe(1_000);
  });

  it('counts failures under the same template, and carries the count to the replacement', () => {
    const j = job('copy', withFinalizer);
    const fell = desiredWorkerPod(j, 'source', 0, 5, settings, 2);
    failed(1, '2026-11-24T11:59:00Z')(fell);
    const d = decide(observe(j, [fell, workerPod(j, 'destination', 0, 0, ready)]), settings);
    const created = d.actions.find((a) => a.kind === 'CreatePod') as Extract<Action, { kind: 'CreatePod' }>;
    expect(created.pod.metadata!.name).toBe('copy-source-0-6');
    expect(created.pod.metadata!.annotations![annotations.slotFailures]).toBe('3');
  });

  it('replaces pods made before pods carried a template digest (an operator upgrade)', () => {
    const j = job('copy', withFinalizer);
    const old = workerPod(j, 'source', 0, 0, ready);
    delete old.metadata!.annotations![annotations.podTemplate];
    const d = decide(observe(j, [old, workerPod(j, 'destination', 0, 0, ready)]), settings);
    expect(summary(d.actions)).toEqual(['DeletePod copy-source-0-0']);
  });
});

describe('decide: suspend, finish and delete', () => {
  it('removes every worker pod of a suspended job and reports it Suspended', () => {
    const j = job('copy', withFinalizer, suspended);
    const d = decide(
      observe(j, [workerPod(j, 'source', 0, 0, ready), workerPod(j, 'destination', 0, 0, ready)]),
      settings,
    );
    expect(summary(d.actions)).toEqual(['DeletePod copy-source-0-0', 'DeletePod copy-destination-0-0']);
    expect(d.status?.phase).toBe('Suspended');
    expect(condition(d.status, 'Suspended')?.status).toBe('True');
    expect(condition(d.status, 'Reconciling')?.status).toBe('False');
  });

  it('on deletion removes pods and the token Secret, and keeps the finalizer while a pod is still there', () => {
    const j = job('copy', withFinalizer, beingDeleted);
    const d = decide(observe(j, [workerPod(j, 'source', 0, 0, ready)]), settings);
    expect(summary(d.actions)).toEqual(['DeletePod copy-source-0-0', 'DeleteTokenSecret']);
    expect(d.requeueAfterMs).toBeDefined();
    expect(d.status).toBeUndefined();
  });

  it('once no pod is left, removes the external state and only then the finalizer', () => {
    const j = job('copy', withFinalizer, beingDeleted);
    expect(summary(decide(observe(j, [], false), settings).actions)).toEqual([
      'RemoveExternalState',
      'RemoveFinalizer',
    ]);
  });

  describe('a deleted job with a filesystem destination', () => {
    const toVolume: JobOption = (j) => {
      j.spec.destination = { filesystem: { claimName: 'archive', path: '/mirror' } };
    };
    const deletedAgo =
      (ms: number): JobOption =>
      (j) => {
        j.metadata!.deletionTimestamp = new Date(now.getTime() - ms);
      };
    const j = job('copy', withFinalizer, toVolume, deletedAgo(10_000));
    const uploads = [{ key: 'video/big.mp4', uploadId: 'u1' }];
    const gone = (d: ReturnType<typeof decide>) => summary(d.actions).includes('RemoveFinalizer');

    it('once its workers are gone, starts a pod that mounts the volume to abort the uploads left open', () => {
      const d = decide({ ...observe(j, [], false), uploadsToAbort: uploads }, settings);
      const create = d.actions.find((a) => a.kind === 'CreatePod') as Extract<Action, { kind: 'CreatePod' }>;
      expect(gone(d)).toBe(false);
      expect(d.requeueAfterMs).toBeDefined();
      const container = create.pod.spec!.containers[0]!;
      expect(create.pod.metadata!.name).toBe('copy-abort-uploads');
      expect(container.env).toContainEqual({ name: 'FERRY_ABORT_UPLOADS', value: JSON.stringify(uploads) });
      // No reference to the job's Secret, already deleted.
      expect(JSON.stringify(create.pod)).not.toContain('worker-token');
      expect(create.pod.spec!.volumes).toContainEqual(
        expect.objectContaining({ persistentVolumeClaim: { claimName: 'archive', readOnly: false } }),
      );
      // Nothing open: the deletion goes straight on.
      expect(gone(decide({ ...observe(j, [], false), uploadsToAbort: [] }, settings))).toBe(true);
    });

    it('hands one pod no more uploads than one environment variable holds, and says how many are left', () => {
      const many = Array.from({ length: 2_000 }, (_, i) => ({
        key: `k/${'x'.repeat(60)}/${i}`,
        uploadId: `u${i}`,
      }));
      const d = decide({ ...observe(j, [], false), uploadsToAbort: many }, settings);
      const create = d.actions.find((a) => a.kind === 'CreatePod') as Extract<Action, { kind: 'CreatePod' }>;
      const list = create.pod.spec!.containers[0]!.env!.find((e) => e.name === 'FERRY_ABORT_UPLOADS')!.value!;
      expect(Buffer.byteLength(list)).toBeLessThanOrEqual(64 * 1024);
      const handed = (JSON.parse(list) as unknown[]).length;
      expect(d.events).toContainEqual(
        expect.objectContaining({
          reason: 'UploadsLeft',
          message: expect.stringContaining(`${2_000 - handed} more`),
        }),
      );
    });

    const abortPod = (phase: string, createdAgoMs: number) => {
      const pod = uploadAbortPod(j, uploads, settings);
      pod.metadata!.creationTimestamp = new Date(now.getTime() - createdAgoMs);
      pod.status = { phase };
      return pod;
    };

    it('waits for the pod, then removes it and the finalizer, saying the uploads were aborted', () => {
      expect(gone(decide(observe(j, [abortPod('Running', 5_000)], false), settings))).toBe(false);
      const d = decide(observe(j, [abortPod('Succeeded', 6_000)], false), settings);
      expect(summary(d.actions)).toEqual([
        'DeletePod copy-abort-uploads',
        'RemoveExternalState',
        'RemoveFinalizer',
      ]);
      expect(d.events).toContainEqual(expect.objectContaining({ reason: 'UploadsAborted' }));
    });

    it('waits for a pod made late as long as for any, counting from its creation', () => {
      const late = job('copy', withFinalizer, toVolume, deletedAgo(200_000));
      expect(gone(decide(observe(late, [abortPod('Pending', 5_000)], false), settings))).toBe(false);
    });

    it('goes on without a pod that cannot finish, or cannot be made, saying the part files are left', () => {
      const d = decide(observe(j, [abortPod('Pending', 130_000)], false), settings);
      expect(gone(d)).toBe(true);
      expect(d.events).toContainEqual(
        expect.objectContaining({
          type: 'Warning',
          reason: 'UploadsLeft',
          message: expect.stringContaining('did not finish within 120 s'),
        }),
      );
      // Refused again and again (a terminating namespace): the deletion goes on after 5 minutes.
      const refused = job('copy', withFinalizer, toVolume, deletedAgo(301_000));
      const r = decide({ ...observe(refused, [], false), uploadsToAbort: uploads }, settings);
      expect(gone(r)).toBe(true);
      expect(r.events).toContainEqual(
        expect.objectContaining({ message: expect.stringContaining('no upload-abort pod could be created') }),
      );
    });
  });

  it('does nothing for a deleted job whose finalizer is already gone', () => {
    const j = job('copy', beingDeleted);
    expect(j.metadata!.finalizers ?? []).not.toContain(finalizer);
    expect(decide(observe(j), settings).actions).toEqual([]);
  });

  const complete = withConditions({
    type: 'Complete',
    status: 'True',
    reason: 'Succeeded',
    message: 'done',
    lastTransitionTime: '2026-11-24T11:00:00Z',
  });

  it('deletes a finished job once its TTL has passed, and waits until then otherwise', () => {
    expect(
      summary(
        decide(observe(job('copy', withFinalizer, complete, withTtl(60, '2026-11-24T11:58:00Z'))), settings)
          .actions,
      ),
    ).toEqual(['DeleteJob']);
    const waiting = decide(
      observe(job('copy', withFinalizer, complete, withTtl(600, '2026-11-24T11:58:00Z'))),
      settings,
    );
    expect(waiting.actions).toEqual([]);
    expect(waiting.requeueAfterMs).toBe(480_000);
  });

  it('shows a failed job as Failed and, for kstatus (Flux, Argo CD), as Stalled with the failure message', () => {
    const failedJob = job(
      'copy',
      withFinalizer,
      withConditions({
        type: 'Failed',
        status: 'True',
        reason: 'TasksFailed',
        message: '2 objects failed permanently',
        lastTransitionTime: '2026-11-24T11:00:00Z',
      }),
    );
    const d = decide(observe(failedJob), settings);
    expect(d.status?.phase).toBe('Failed');
    expect(condition(d.status, 'Stalled')).toMatchObject({
      status: 'True',
      message: '2 objects failed permanently',
    });
    expect(condition(d.status, 'Reconciling')?.status).toBe('False');
    expect(d.events).toContainEqual(expect.objectContaining({ type: 'Warning', reason: 'Failed' }));
  });

  it('shows a completed job as Succeeded and no longer in progress', () => {
    const d = decide(observe(job('copy', withFinalizer, complete)), settings);
    expect(d.status?.phase).toBe('Succeeded');
    expect(condition(d.status, 'Reconciling')?.status).toBe('False');
    expect(condition(d.status, 'Stalled')?.status).toBe('False');
  });
});

describe('decide: progress from the task engine', () => {
  const j = job('copy', withFinalizer);
  const pods = [workerPod(j, 'source', 0, 0, ready), workerPod(j, 'destination', 0, 0, ready)];
  const ledger = (copied: number, bytes: number, failedKeys: string[] = []) => ({
    tasks: { PENDING: 0, DISPATCHED: 1, RUNNING: 0, SUCCEEDED: 2, FAILED: failedKeys.length ? 1 : 0 },
    objectsCopied: copied,
    bytesCopied: bytes,
    objectsDeleted: 0,
    objectsFailed: failedKeys.length,
    failures: failedKeys.map((key) => ({ key, reason: 'AccessDenied' })),
    lastError: failedKeys.length ? { kind: 'permanent' as const, message: 'AccessDenied' } : undefined,
  });

  it('shows exact counters and a progress below 100 % while tasks run', () => {
    const d = decide(
      { ...observe(j, pods), progress: { phase: 'running', epoch: 2, totals, summary: ledger(4, 400) } },
      settings,
    );
    expect(d.status).toMatchObject({
      objects: { planned: 10 + 1, copied: 4, skipped: 2 }, // 10 copies and 1 delete
      bytes: { planned: 1000, copied: 400 },
      tasks: { dispatched: 1, succeeded: 2 },
      progressPercent: 40,
    });
    expect(condition(d.status, 'Complete')?.status).toBe('False');
  });

  it('marks the job Complete when every task succeeded', () => {
    const d = decide(
      { ...observe(j, pods), progress: { phase: 'succeeded', epoch: 2, totals, summary: ledger(10, 1000) } },
      settings,
    );
    expect(d.status?.phase).toBe('Succeeded');
    expect(d.status?.progressPercent).toBe(100);
    expect(d.status?.completionTime).toBe('2026-11-24T12:00:00Z');
    expect(d.events.map((e) => e.reason)).toContain('Succeeded');
  });

  it('marks the job Failed naming the failed objects, and Stalled for kstatus', () => {
    const failure = { reason: 'TasksFailed', message: '1 objects failed: secret.bin (AccessDenied)' };
    const d = decide(
      {
        ...observe(j, pods),
        progress: { phase: 'failed', epoch: 2, totals, summary: ledger(9, 900, ['secret.bin']), failure },
      },
      settings,
    );
    expect(d.status?.phase).toBe('Failed');
    expect(d.status?.failedObjects).toEqual([{ key: 'secret.bin', reason: 'AccessDenied' }]);
    expect(d.status?.failedObjectsTotal).toBe(1);
    expect(d.status?.lastFailure).toMatchObject({ reason: 'TasksFailed', message: failure.message });
    expect(condition(d.status, 'Stalled')).toMatchObject({ status: 'True', message: failure.message });
    expect(d.events).toContainEqual({ type: 'Warning', reason: 'Failed', message: failure.message });
  });
});

describe("decide: the worker Secret's NATS access", () => {
  const natsSettings = {
    ...settings,
    natsSecretData: { 'nats-ca.crt': 'NEW CA', 'nats-user': 'ferry', 'nats-password': 'p' },
  };
  const withHeld = (workerSecretNats: Record<string, string>): Observed => ({
    ...observe(job('copy', withFinalizer)),
    workerSecretNats,
  });

  it('brings a Secret made with other NATS access (rotated, or none before an upgrade) in step, before creating pods', () => {
    for (const held of [
      {} as Record<string, string>,
      { 'nats-ca.crt': 'OLD CA', 'nats-user': 'ferry', 'nats-password': 'p' },
    ]) {
      const actions = summary(decide(withHeld(held), natsSettings).actions);
      expect(actions[0]).toBe('UpdateWorkerSecretNats');
      expect(actions).toContain('CreatePod copy-source-0-0');
    }
  });

  it('leaves a Secret alone that holds what the operator uses, or no NATS access when it uses none', () => {
    expect(summary(decide(withHeld({ ...natsSettings.natsSecretData }), natsSettings).actions)).not.toContain(
      'UpdateWorkerSecretNats',
    );
    expect(summary(decide(withHeld({}), settings).actions)).not.toContain('UpdateWorkerSecretNats');
  });

  it('replaces running pods made with the NATS access before a rotation, once the Secret is in step', () => {
    const j = job('copy', withFinalizer);
    const before = { ...settings, natsSecretData: { 'nats-user': 'ferry', 'nats-password': 'old' } };
    const after = { ...settings, natsSecretData: { 'nats-user': 'ferry', 'nats-password': 'new' } };
    const pods = [workerPod(j, 'source', 0, 0, ready), workerPodWith(j, 'destination', 0, 0, before)];
    // The source pod was made with `settings` (no NATS access), the destination one with the old password.
    const held = { ...observe(j, pods), workerSecretNats: before.natsSecretData };
    const d = decide(held, after);
    expect(summary(d.actions)).toEqual([
      'UpdateWorkerSecretNats',
      'DeletePod copy-source-0-0',
      'DeletePod copy-destination-0-0',
    ]);
    expect(d.events.filter((e) => e.reason === 'WorkerPodOutdated')).toHaveLength(2);
    expect(condition(d.status, 'Ready')?.status).toBe('False');
    // The replacement, made once the old pod is terminating, carries the new access and is left alone.
    const replacement = decide({ ...held, pods: pods.map(terminating) }, after);
    expect(summary(replacement.actions)).toEqual(
      expect.arrayContaining(['CreatePod copy-source-0-1', 'CreatePod copy-destination-0-1']),
    );
    const renewed = [workerPodWith(j, 'source', 0, 1, after), workerPodWith(j, 'destination', 0, 1, after)];
    const settled = decide({ ...held, pods: renewed, workerSecretNats: after.natsSecretData }, after);
    expect(settled.actions).toEqual([]);
  });

  it('removes access the operator no longer uses (a password after a switch to no auth)', () => {
    expect(summary(decide(withHeld({ 'nats-user': 'u', 'nats-password': 'p' }), settings).actions)).toContain(
      'UpdateWorkerSecretNats',
    );
  });
});
