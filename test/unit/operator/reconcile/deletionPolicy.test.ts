import type * as k8s from '@kubernetes/client-node';
import type { ReplicationJob } from '../../../../api/v1alpha1/index.ts';
import type { UploadToAbort } from '../../../../api/uploads.ts';
import { deletionPolicy, finalizerPolicy } from '../../../../operator/reconcile/deletionPolicy.ts';
import { uploadAbortPod } from '../../../../operator/reconcile/uploadAbortPod.ts';
import { job, ready, settings, withFinalizer, workerPod, type JobOption } from '../../../support/fixtures.ts';
import { now, summary } from './fixtures.ts';

const deletedAgo =
  (ms: number): JobOption =>
  (j) => {
    j.metadata!.deletionTimestamp = new Date(now.getTime() - ms);
  };
const toVolume: JobOption = (j) => {
  j.spec.destination = { filesystem: { claimName: 'archive', path: '/mirror' } };
};
const uploads: UploadToAbort[] = [{ key: 'video/big.mp4', uploadId: 'u1' }];
const s3Job = job('copy', withFinalizer, deletedAgo(10_000));
const volumeJob = job('copy', withFinalizer, toVolume, deletedAgo(10_000));

function abortPod(j: ReplicationJob, phase: string, createdAgoMs: number): k8s.V1Pod {
  const pod = uploadAbortPod(j, uploads, settings);
  pod.metadata!.creationTimestamp = new Date(now.getTime() - createdAgoMs);
  pod.status = { phase };
  return pod;
}

describe('deletionPolicy', () => {
  const cases: Record<
    string,
    {
      job: ReplicationJob;
      pods?: k8s.V1Pod[];
      tokenSecretExists?: boolean;
      uploadsToAbort?: UploadToAbort[];
      actions: string[];
      waits: boolean;
      events?: string[];
    }
  > = {
    'a job whose finalizer is gone: nothing left to do': {
      job: job('copy', deletedAgo(1_000)),
      actions: [],
      waits: false,
    },
    'worker pods and the token Secret go first; the finalizer waits for the pods': {
      job: s3Job,
      pods: [workerPod(s3Job, 'source', 0, 0, ready)],
      tokenSecretExists: true,
      actions: ['DeletePod copy-source-0-0', 'DeleteTokenSecret'],
      waits: true,
    },
    'once no pod is left: the external state, then the finalizer': {
      job: s3Job,
      actions: ['RemoveExternalState', 'RemoveFinalizer'],
      waits: false,
    },
    'a filesystem destination with open uploads: a pod to abort them, and a wait': {
      job: volumeJob,
      uploadsToAbort: uploads,
      actions: ['CreatePod copy-abort-uploads'],
      waits: true,
      events: ['AbortingUploads'],
    },
    'a filesystem destination with nothing open: straight on': {
      job: volumeJob,
      uploadsToAbort: [],
      actions: ['RemoveExternalState', 'RemoveFinalizer'],
      waits: false,
    },
    'the upload-abort pod still running: wait for it': {
      job: volumeJob,
      pods: [abortPod(volumeJob, 'Running', 5_000)],
      actions: [],
      waits: true,
    },
    'the upload-abort pod done: it goes, then the finalizer': {
      job: volumeJob,
      pods: [abortPod(volumeJob, 'Succeeded', 5_000)],
      actions: ['DeletePod copy-abort-uploads', 'RemoveExternalState', 'RemoveFinalizer'],
      waits: false,
      events: ['UploadsAborted'],
    },
    'the upload-abort pod past its deadline: the deletion goes on, saying what is left': {
      job: volumeJob,
      pods: [abortPod(volumeJob, 'Pending', 130_000)],
      actions: ['DeletePod copy-abort-uploads', 'RemoveExternalState', 'RemoveFinalizer'],
      waits: false,
      events: ['UploadsLeft'],
    },
    'no upload-abort pod could be made for 5 minutes: the deletion goes on': {
      job: job('copy', withFinalizer, toVolume, deletedAgo(301_000)),
      uploadsToAbort: uploads,
      actions: ['RemoveExternalState', 'RemoveFinalizer'],
      waits: false,
      events: ['UploadsLeft'],
    },
  };
  it.each(Object.entries(cases))('%s', (_, c) => {
    const decision = deletionPolicy(
      {
        job: c.job,
        pods: c.pods ?? [],
        tokenSecretExists: c.tokenSecretExists ?? false,
        now,
        ...(c.uploadsToAbort ? { uploadsToAbort: c.uploadsToAbort } : {}),
      },
      settings,
    );
    expect(summary(decision.actions)).toEqual(c.actions);
    expect(decision.requeueAfterMs !== undefined).toBe(c.waits);
    expect(decision.events.map((e) => e.reason)).toEqual(c.events ?? []);
    expect(decision.status).toBeUndefined();
  });
});

describe('finalizerPolicy', () => {
  it.each([
    ['a job without the finalizer gets it', job('copy'), ['AddFinalizer']],
    ['a job with it is left alone', job('copy', withFinalizer), []],
  ] as const)('%s', (_, j, actions) => {
    expect(summary(finalizerPolicy(j).actions)).toEqual(actions);
  });
});
