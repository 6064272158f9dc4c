// A deleted job's uploads left open at a filesystem destination: a pod that
// mounts the volume aborts them (uploadAbortPod.ts, ADR 0020). Every wait is
// bounded, so a pod that cannot be created (a terminating namespace, a quota)
// or cannot run never holds the deletion. S3 destinations' uploads are aborted
// by the RemoveExternalState action.
import type * as k8s from '@kubernetes/client-node';
import { Reason } from './conditions.ts';
import type { Action, DecideSettings, JobEvent, Observed } from './decision.ts';
import { describePodEnd, podWaiting } from './podState.ts';
import {
  isUploadAbortPod,
  uploadAbortDeadlineMs,
  uploadAbortPod,
  uploadAbortStartDeadlineMs,
  uploadsForOnePod,
} from './uploadAbortPod.ts';

/** What the deletion does about the open uploads: `waitMs` while the pod runs, then it goes on. */
export interface UploadAbortStep {
  actions: Action[];
  events: JobEvent[];
  waitMs?: number;
}

/** How often the deletion looks at the upload-abort pod while it runs. */
const pollMs = 2_000;

function uploadsLeft(why: string): JobEvent {
  return {
    type: 'Warning',
    reason: Reason.UploadsLeft,
    message: `uploads left open at the destination, their part files on its volume under .ferry-staging/: ${why}`,
  };
}

/** Milliseconds from `at` to now; a Date in the types, an RFC 3339 string from the API: new Date takes either. */
function since(at: Date | string | undefined, now: Date): number {
  return now.getTime() - new Date(at ?? now).getTime();
}

/** No pod yet: make one for the uploads, unless the time to make one is over. */
function startUploadAbort(observed: Observed, settings: DecideSettings): UploadAbortStep {
  const { job, now } = observed;
  const uploads = observed.uploadsToAbort ?? [];
  if (uploads.length === 0) return { actions: [], events: [] };
  if (since(job.metadata!.deletionTimestamp, now) >= uploadAbortStartDeadlineMs)
    return {
      actions: [],
      events: [
        uploadsLeft(`no upload-abort pod could be created within ${uploadAbortStartDeadlineMs / 1000} s`),
      ],
    };
  const { handed, notHanded } = uploadsForOnePod(uploads);
  return {
    actions: [{ kind: 'CreatePod', pod: uploadAbortPod(job, handed, settings) }],
    events: [
      {
        type: 'Normal',
        reason: Reason.AbortingUploads,
        message: `aborting ${handed.length} uploads left open at the destination (their part files)`,
      },
      ...(notHanded > 0 ? [uploadsLeft(`${notHanded} more than one pod's list holds`)] : []),
    ],
    waitMs: pollMs,
  };
}

/** The pod exists: wait for it, within its deadline, then remove it saying what it did. */
function awaitUploadAbort(pod: k8s.V1Pod, now: Date): UploadAbortStep {
  const name = pod.metadata!.name!;
  const remove: Action[] = pod.metadata?.deletionTimestamp ? [] : [{ kind: 'DeletePod', name }];
  if (pod.status?.phase === 'Succeeded')
    return {
      actions: remove,
      events: [
        {
          type: 'Normal',
          reason: Reason.UploadsAborted,
          message: `${name} aborted the uploads it was given`,
        },
      ],
    };
  if (pod.status?.phase !== 'Failed' && since(pod.metadata?.creationTimestamp, now) < uploadAbortDeadlineMs)
    return { actions: [], events: [], waitMs: pollMs };
  const waiting = podWaiting(pod);
  const why =
    pod.status?.phase === 'Failed'
      ? describePodEnd(pod)
      : `${name} did not finish within ${uploadAbortDeadlineMs / 1000} s${waiting ? ` (${waiting})` : ''}`;
  return { actions: remove, events: [uploadsLeft(why)] };
}

/** The deletion's step for the uploads a filesystem destination holds open. */
export function uploadAbortPolicy(observed: Observed, settings: DecideSettings): UploadAbortStep {
  if (!observed.job.spec.destination.filesystem) return { actions: [], events: [] };
  const pod = observed.pods.find(isUploadAbortPod);
  return pod ? awaitUploadAbort(pod, observed.now) : startUploadAbort(observed, settings);
}
