// Kubernetes Events about a ReplicationJob (what `kubectl describe rj` shows).
import type * as k8s from '@kubernetes/client-node';
import type { ReplicationJob } from '../api/v1alpha1/index.ts';
import { operatorName } from '../api/names.ts';
import type { JobEvent } from './reconcile/decision.ts';

export async function recordEvent(
  core: k8s.CoreV1Api,
  job: ReplicationJob,
  event: JobEvent,
  now: Date,
  reportingInstance: string,
): Promise<void> {
  const namespace = job.metadata!.namespace!;
  const time = now.toISOString();
  await core.createNamespacedEvent({
    namespace,
    body: {
      metadata: { generateName: `${job.metadata!.name}.`, namespace },
      involvedObject: {
        apiVersion: job.apiVersion,
        kind: job.kind,
        name: job.metadata!.name,
        namespace,
        uid: job.metadata!.uid,
        resourceVersion: job.metadata!.resourceVersion,
      },
      type: event.type,
      reason: event.reason,
      message: event.message,
      source: { component: operatorName },
      reportingComponent: `ferry.dev/${operatorName}`,
      reportingInstance,
      action: 'Reconcile',
      firstTimestamp: new Date(time),
      lastTimestamp: new Date(time),
      eventTime: undefined,
      count: 1,
    },
  });
}
