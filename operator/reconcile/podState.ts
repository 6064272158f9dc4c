// What a pod's metadata and status say about it, as decide's policies read
// them: its place in its slot's history, whether it runs, how it ended.
import type * as k8s from '@kubernetes/client-node';
import { annotations } from '../../api/names.ts';

function countAnnotation(pod: k8s.V1Pod, key: string): number {
  return Number(pod.metadata?.annotations?.[key] ?? 0) || 0;
}

/** How many pods the pod's slot had before it (its name's last number). */
export function podRestarts(pod: k8s.V1Pod): number {
  return countAnnotation(pod, annotations.slotRestarts);
}

/** The back-off exponent a pod carries: its slot's failures under its template (ADR 0022). */
export function podFailures(pod: k8s.V1Pod): number {
  return countAnnotation(pod, annotations.slotFailures);
}

export function podEnded(pod: k8s.V1Pod): boolean {
  return pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded';
}

export function podReady(pod: k8s.V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** When the pod's container ended; `now` when its status does not say. */
export function podEndedAt(pod: k8s.V1Pod, now: Date): number {
  const finished = pod.status?.containerStatuses?.[0]?.state?.terminated?.finishedAt;
  return finished ? new Date(finished).getTime() : now.getTime();
}

/**
 * Whether the pod's container was killed from outside it — SIGKILLed (exit
 * code 137) by a person, a node agent or a node that went away — rather than
 * ending by itself: not OOMKilled (its own memory) and not killed by its
 * liveness probe (its own health). Such an end says nothing about the pod's
 * template, so it must not lengthen its slot's back-off.
 */
export function podKilledFromOutside(pod: k8s.V1Pod): boolean {
  const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
  if (!terminated) return false;
  const sigkill = terminated.signal === 9 || terminated.exitCode === 137;
  const ownFault = terminated.reason === 'OOMKilled' || /liveness/i.test(terminated.message ?? '');
  return sigkill && !ownFault;
}

/** How long the pod's container ran before it ended (0 when its status does not say). */
export function podRanForMs(pod: k8s.V1Pod): number {
  const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
  if (!terminated?.startedAt || !terminated.finishedAt) return 0;
  return Math.max(0, new Date(terminated.finishedAt).getTime() - new Date(terminated.startedAt).getTime());
}

/** How an ended pod ended, for an event: its exit code or signal. */
export function describePodEnd(pod: k8s.V1Pod): string {
  const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
  if (!terminated) return `pod ${pod.metadata?.name} ended (${pod.status?.phase})`;
  const how = terminated.signal ? `signal ${terminated.signal}` : `exit code ${terminated.exitCode}`;
  return `pod ${pod.metadata?.name} ${pod.status?.phase === 'Succeeded' ? 'exited' : 'failed'} with ${how}${terminated.reason ? ` (${terminated.reason})` : ''}`;
}

/**
 * Why a live pod is not ready, when its container says so: a waiting reason
 * such as ImagePullBackOff or CreateContainerConfigError, with its message.
 * Undefined while it is merely starting.
 */
export function podWaiting(pod: k8s.V1Pod): string | undefined {
  const starting = new Set(['ContainerCreating', 'PodInitializing']);
  const waiting = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
    .map((c) => c.state?.waiting)
    .find((w) => w?.reason && !starting.has(w.reason));
  if (!waiting?.reason) return undefined;
  const message = waiting.message ? `: ${waiting.message.slice(0, 200)}` : '';
  return `pod ${pod.metadata?.name} is waiting (${waiting.reason}${message})`;
}

/** The pods that run or may still run (not ended, not terminating), newest first. */
export function livePods(pods: readonly k8s.V1Pod[]): k8s.V1Pod[] {
  return pods
    .filter((p) => !p.metadata?.deletionTimestamp && !podEnded(p))
    .sort((a, b) => podRestarts(b) - podRestarts(a));
}

/** Deletes every pod whose deletion has not begun. */
export function deletePodsNotTerminating(pods: readonly k8s.V1Pod[]): { kind: 'DeletePod'; name: string }[] {
  return pods
    .filter((p) => !p.metadata?.deletionTimestamp)
    .map((p) => ({ kind: 'DeletePod' as const, name: p.metadata!.name! }));
}
