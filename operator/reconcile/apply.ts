// apply: carries out decide's actions against the API server and the job's
// external state. Each action is idempotent (create-if-absent, delete-if-present),
// so a reconcile interrupted half-way is simply repeated.
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { isUploadAbortPod } from './uploadAbortPod.ts';
import type { ReplicationJob } from '../../api/v1alpha1/index.ts';
import { group, plural, version } from '../../api/v1alpha1/index.ts';
import { finalizer, workerTokenKey, workerTokenSecretName } from '../../api/names.ts';
import type { ExternalJobState } from '../external/jobState.ts';
import type { Action } from './decide.ts';
import { ownedLabels, ownerReference } from './workerPods.ts';
import { natsSecretKeys } from './workerNatsAccess.ts';

export interface ApplyClients {
  core: k8s.CoreV1Api;
  objects: k8s.CustomObjectsApi;
  external: ExternalJobState;
  /** NATS access for the job's workers, stored in its worker Secret (see workerNatsAccess.ts). */
  natsSecretData?: Readonly<Record<string, string>>;
  /** Where an action reports what it could only partly do. */
  log?: (level: 'info' | 'warn', message: string, meta: Record<string, unknown>) => void;
}

function code(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

async function ignoring<T>(codes: number[], op: () => Promise<T>): Promise<void> {
  try {
    await op();
  } catch (err) {
    if (!codes.includes(code(err) ?? 0)) throw err;
  }
}

const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);

export async function applyAction(clients: ApplyClients, job: ReplicationJob, action: Action): Promise<void> {
  const namespace = job.metadata!.namespace!;
  const name = job.metadata!.name!;
  switch (action.kind) {
    case 'AddFinalizer':
      // The test op fails the patch if the finalizers changed since we read them.
      await clients.objects.patchNamespacedCustomObject(
        {
          group,
          version,
          namespace,
          plural,
          name,
          body: job.metadata!.finalizers
            ? [
                { op: 'test', path: '/metadata/finalizers', value: job.metadata!.finalizers },
                { op: 'add', path: '/metadata/finalizers/-', value: finalizer },
              ]
            : [{ op: 'add', path: '/metadata/finalizers', value: [finalizer] }],
        },
        jsonPatch,
      );
      return;
    case 'RemoveFinalizer': {
      const finalizers = job.metadata!.finalizers ?? [];
      await ignoring([404], () =>
        clients.objects.patchNamespacedCustomObject(
          {
            group,
            version,
            namespace,
            plural,
            name,
            body: [
              { op: 'test', path: '/metadata/finalizers', value: finalizers },
              {
                op: 'replace',
                path: '/metadata/finalizers',
                value: finalizers.filter((f) => f !== finalizer),
              },
            ],
          },
          jsonPatch,
        ),
      );
      return;
    }
    case 'CreateTokenSecret':
      await ignoring([409], () =>
        clients.core.createNamespacedSecret({
          namespace,
          body: {
            metadata: {
              name: workerTokenSecretName(name),
              namespace,
              labels: ownedLabels(job),
              ownerReferences: [ownerReference(job)],
            },
            type: 'Opaque',
            stringData: {
              ...clients.natsSecretData,
              [workerTokenKey]: randomBytes(32).toString('hex'),
            },
          },
        }),
      );
      return;
    case 'DeleteTokenSecret':
      await ignoring([404], () =>
        clients.core.deleteNamespacedSecret({ name: workerTokenSecretName(name), namespace }),
      );
      return;
    case 'UpdateWorkerSecretNats': {
      // A merge patch: the token stays; a NATS key the operator no longer has is removed (null).
      const wanted = clients.natsSecretData ?? {};
      const data = Object.fromEntries(
        natsSecretKeys.map((key) => [
          key,
          key in wanted ? Buffer.from(wanted[key]!, 'utf8').toString('base64') : null,
        ]),
      );
      await ignoring([404], () =>
        clients.core.patchNamespacedSecret(
          { name: workerTokenSecretName(name), namespace, body: { data } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        ),
      );
      return;
    }
    case 'CreatePod':
      try {
        await ignoring([409], () => clients.core.createNamespacedPod({ namespace, body: action.pod }));
      } catch (err) {
        // A deleted job's upload-abort pod is a best effort: refused (a terminating namespace, a
        // quota, a webhook), it must not fail the finalizer's reconcile; decide gives up on it in time.
        if (!isUploadAbortPod(action.pod)) throw err;
        clients.log?.('warn', 'could not create the upload-abort pod', { error: String(err) });
      }
      return;
    case 'DeletePod':
      await ignoring([404], () => clients.core.deleteNamespacedPod({ name: action.name, namespace }));
      return;
    case 'EnsureJobStreams':
      await clients.external.ensure(job.metadata!.uid!);
      return;
    case 'RemoveExternalState': {
      // First the uploads left open (the records naming them go with the rest).
      const uploads = await clients.external.abortOpenUploads(job, clients.core);
      if (uploads.aborted > 0 || uploads.left.length > 0)
        clients.log?.(
          uploads.left.length > 0 ? 'warn' : 'info',
          uploads.left.length > 0
            ? 'multipart uploads left open at the destination, to its lifecycle rule'
            : 'aborted the multipart uploads left open at the destination',
          { aborted: uploads.aborted, left: uploads.left },
        );
      await clients.external.remove(job.metadata!.uid!);
      return;
    }
    case 'DeleteJob':
      await ignoring([404], () =>
        clients.objects.deleteNamespacedCustomObject({ group, version, namespace, plural, name }),
      );
      return;
  }
}
