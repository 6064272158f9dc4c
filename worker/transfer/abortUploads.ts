// A deleted job's open multipart uploads, aborted at its destination by a
// short-lived pod the operator's finalizer starts (operator/reconcile/
// uploadAbortPod.ts). Only a pod that mounts the destination's volume can
// remove a filesystem destination's staged part files; an S3 destination's
// uploads the operator aborts itself. An upload already gone counts as
// aborted; the first one that cannot be aborted ends the run with an error,
// which the pod's failure reports.
import type { ObjectStore } from '../../storage/objectStore.ts';
import type { UploadToAbort } from '../../api/uploads.ts';
import type { Logger } from '../../common/logging.ts';

export async function abortUploads(
  store: ObjectStore,
  uploads: readonly UploadToAbort[],
  log: Logger,
): Promise<void> {
  for (const { key, uploadId } of uploads) await store.abortMultipart(key, uploadId);
  log.info('aborted the uploads the deleted job left open', { uploads: uploads.length });
}
