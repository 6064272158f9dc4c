// apply: carries out decide's actions against the API server and the job's
// external state (ADR 0003). Each action is idempotent (create-if-absent,
// delete-if-present), so a reconcile interrupted half-way is simply repeated.
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { isUploadAbortPod } from './uploadAbortPod.ts';
import type { ReplicationJob } from '../../api/v1alpha1/index.ts';
import { group, plural, version } from '../../api/v1alpha1/index.ts';
import { finalizer, workerTokenKey, workerTokenSecretName } from '../../api/names.ts';
import type { Logger } from '../../common/logging.ts';
import type { ExternalJobState } from '../external/jobState.ts';
import type { Action } from './decision.ts';
import { ownedLabels, ownerReference } from './workerPods.ts';
import { natsSecretKeys } from './workerNatsAccess.ts';

export interface ApplyClients {
  core: k8s.CoreV1Api;
  objects: k8s.CustomObjectsApi;
  external: ExternalJobState;
  /** NATS access for the job's workers, stored in its worker Secret (see workerNatsAccess.ts). */
  natsSecretData?: Readonly<Record<string, string>>;
  /** Where an action reports what it could only partly do. */
  log?: Logger;
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

/** Where a job lives, and what an action acts with. */
interface ActionContext {
  clients: ApplyClients;
  job: ReplicationJob;
  namespace: string;
  name: string;
}

type Handler<K extends Action['kind']> = (
  context: ActionContext,
  action: Extract<Action, { kind: K }>,
) => Promise<void>;

/** Patches the job's finalizers; the test op fails the patch if they changed since they were read. */
async function patchFinalizers({ clients, namespace, name }: ActionContext, body: object[]): Promise<void> {
  await clients.objects.patchNamespacedCustomObject(
    { group, version, namespace, plural, name, body },
    jsonPatch,
  );
}

const addFinalizer: Handler<'AddFinalizer'> = (context) => {
  const finalizers = context.job.metadata!.finalizers;
  return patchFinalizers(
    context,
    finalizers
      ? [
          { op: 'test', path: '/metadata/finalizers', value: finalizers },
          { op: 'add', path: '/metadata/finalizers/-', value: finalizer },
        ]
      : [{ op: 'add', path: '/metadata/finalizers', value: [finalizer] }],
  );
};

const removeFinalizer: Handler<'RemoveFinalizer'> = (context) => {
  const finalizers = context.job.metadata!.finalizers ?? [];
  return ignoring([404], () =>
    patchFinalizers(context, [
      { op: 'test', path: '/metadata/finalizers', value: finalizers },
      { op: 'replace', path: '/metadata/finalizers', value: finalizers.filter((f) => f !== finalizer) },
    ]),
  );
};

const createTokenSecret: Handler<'CreateTokenSecret'> = ({ clients, job, namespace, name }) =>
  ignoring([409], () =>
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
        stringData: { ...clients.natsSecretData, [workerTokenKey]: randomBytes(32).toString('hex') },
      },
    }),
  );

const deleteTokenSecret: Handler<'DeleteTokenSecret'> = ({ clients, namespace, name }) =>
  ignoring([404], () =>
    clients.core.deleteNamespacedSecret({ name: workerTokenSecretName(name), namespace }),
  );

const updateWorkerSecretNats: Handler<'UpdateWorkerSecretNats'> = ({ clients, namespace, name }) => {
  // A merge patch: the token stays; a NATS key the operator no longer has is removed (null).
  const wanted = clients.natsSecretData ?? {};
  const data = Object.fromEntries(
    natsSecretKeys.map((key) => [
      key,
      key in wanted ? Buffer.from(wanted[key]!, 'utf8').toString('base64') : null,
    ]),
  );
  return ignoring([404], () =>
    clients.core.patchNamespacedSecret(
      { name: workerTokenSecretName(name), namespace, body: { data } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    ),
  );
};

const createPod: Handler<'CreatePod'> = async ({ clients, namespace }, { pod }) => {
  try {
    await ignoring([409], () => clients.core.createNamespacedPod({ namespace, body: pod }));
  } catch (err) {
    // A deleted job's upload-abort pod is a best effort: refused (a terminating namespace, a
    // quota, a webhook), it must not fail the finalizer's reconcile; decide gives up on it in time.
    if (!isUploadAbortPod(pod)) throw err;
    clients.log?.warn('could not create the upload-abort pod', { error: String(err) });
  }
};

const deletePod: Handler<'DeletePod'> = ({ clients, namespace }, action) =>
  ignoring([404], () => clients.core.deleteNamespacedPod({ name: action.name, namespace }));

const ensureJobStreams: Handler<'EnsureJobStreams'> = ({ clients, job }) =>
  clients.external.ensure(job.metadata!.uid!);

const removeExternalState: Handler<'RemoveExternalState'> = async ({ clients, job }) => {
  // First the uploads left open (the records naming them go with the rest).
  const uploads = await clients.external.abortOpenUploads(job, clients.core);
  const counts = { aborted: uploads.aborted, left: uploads.left };
  if (uploads.left.length > 0)
    clients.log?.warn('multipart uploads left open at the destination, to its lifecycle rule', counts);
  else if (uploads.aborted > 0)
    clients.log?.info('aborted the multipart uploads left open at the destination', counts);
  await clients.external.remove(job.metadata!.uid!);
};

const deleteJob: Handler<'DeleteJob'> = ({ clients, namespace, name }) =>
  ignoring([404], () =>
    clients.objects.deleteNamespacedCustomObject({ group, version, namespace, plural, name }),
  );

const handlers: { [K in Action['kind']]: Handler<K> } = {
  AddFinalizer: addFinalizer,
  RemoveFinalizer: removeFinalizer,
  CreateTokenSecret: createTokenSecret,
  DeleteTokenSecret: deleteTokenSecret,
  UpdateWorkerSecretNats: updateWorkerSecretNats,
  CreatePod: createPod,
  DeletePod: deletePod,
  EnsureJobStreams: ensureJobStreams,
  RemoveExternalState: removeExternalState,
  DeleteJob: deleteJob,
};

export async function applyAction(clients: ApplyClients, job: ReplicationJob, action: Action): Promise<void> {
  const context = { clients, job, namespace: job.metadata!.namespace!, name: job.metadata!.name! };
  await (handlers[action.kind] as Handler<Action['kind']>)(context, action);
}
