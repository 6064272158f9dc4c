// decide: the operator's policy, as a pure function of the job, what was
// observed about it, and the clock. It returns the actions to apply, the status
// to record, the events to emit and when to look again. Only gather (before)
// and apply (after) touch the API server, etcd or NATS.
import type * as k8s from '@kubernetes/client-node';
import type { Condition, ReplicationJob, ReplicationJobStatus } from '../../api/v1alpha1/index.ts';
import { annotations, finalizer, labels, workerRoles, type WorkerRole } from '../../api/names.ts';
import type { EngineProgress } from '../engine/jobEngine.ts';
import { ConditionType, isConditionTrue, Reason, setCondition, type ConditionUpdate } from './conditions.ts';
import { podOutdated } from './podTemplate.ts';
import {
  isUploadAbortPod,
  uploadAbortDeadlineMs,
  uploadAbortPod,
  uploadAbortStartDeadlineMs,
  uploadsForOnePod,
} from './uploadAbortPod.ts';
import type { UploadToAbort } from '../../worker/config.ts';
import { sameNatsEntries } from './workerNatsAccess.ts';
import { desiredReplicas, desiredWorkerPod, slotName, type WorkerPodSettings } from './workerPods.ts';

export interface Observed {
  job: ReplicationJob;
  /** Pods the job owns (selected by the job's UID label). */
  pods: readonly k8s.V1Pod[];
  tokenSecretExists: boolean;
  /** The NATS entries the job's worker Secret holds, when it exists (see workerNatsAccess.ts). */
  workerSecretNats?: Readonly<Record<string, string>>;
  now: Date;
  /** The job's task engine, when one runs for it (the leader's, in memory). */
  progress?: EngineProgress;
  /**
   * A deleted job's uploads still open at a filesystem destination (read once
   * its worker pods are gone; undefined when not read or unreadable).
   */
  uploadsToAbort?: readonly UploadToAbort[];
}

export interface DecideSettings extends WorkerPodSettings {
  /** A failed worker pod is replaced after base·2^restarts, capped at max. */
  podRestartBackoffBaseMs: number;
  podRestartBackoffMaxMs: number;
}

export type Action =
  | { kind: 'AddFinalizer' }
  | { kind: 'RemoveFinalizer' }
  | { kind: 'CreateTokenSecret' }
  | { kind: 'DeleteTokenSecret' }
  /** The worker Secret's NATS entries become the operator's current ones, for the pods created next. */
  | { kind: 'UpdateWorkerSecretNats' }
  | { kind: 'CreatePod'; pod: k8s.V1Pod }
  | { kind: 'DeletePod'; name: string }
  | { kind: 'RemoveExternalState' }
  /** The job's JetStream streams and durable consumers (idempotent). */
  | { kind: 'EnsureJobStreams' }
  | { kind: 'DeleteJob' };

export interface JobEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface Decision {
  actions: Action[];
  /** The status to record; undefined when the job is going away. */
  status?: ReplicationJobStatus;
  events: JobEvent[];
  requeueAfterMs?: number;
}

export type Phase = NonNullable<ReplicationJobStatus['phase']>;

function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

function podRestarts(pod: k8s.V1Pod): number {
  return Number(pod.metadata?.annotations?.[annotations.slotRestarts] ?? 0) || 0;
}

/** The back-off exponent a pod carries; a pod made before slot-failures existed counted every restart. */
function podFailures(pod: k8s.V1Pod): number {
  const failures = pod.metadata?.annotations?.[annotations.slotFailures];
  return failures === undefined ? podRestarts(pod) : Number(failures) || 0;
}

function podEnded(pod: k8s.V1Pod): boolean {
  return pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded';
}

function podReady(pod: k8s.V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function podEndedAt(pod: k8s.V1Pod, now: Date): number {
  const finished = pod.status?.containerStatuses?.[0]?.state?.terminated?.finishedAt;
  return finished ? new Date(finished).getTime() : now.getTime();
}

function describePodEnd(pod: k8s.V1Pod): string {
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
function podWaiting(pod: k8s.V1Pod): string | undefined {
  const starting = new Set(['ContainerCreating', 'PodInitializing']);
  const waiting = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
    .map((c) => c.state?.waiting)
    .find((w) => w?.reason && !starting.has(w.reason));
  if (!waiting?.reason) return undefined;
  const message = waiting.message ? `: ${waiting.message.slice(0, 200)}` : '';
  return `pod ${pod.metadata?.name} is waiting (${waiting.reason}${message})`;
}

/** The phase shown to people: derived from the conditions, never stored as a fact. */
export function derivePhase(conditions: readonly Condition[]): Phase {
  if (isConditionTrue(conditions, ConditionType.Failed)) return 'Failed';
  if (isConditionTrue(conditions, ConditionType.Complete)) return 'Succeeded';
  if (isConditionTrue(conditions, ConditionType.Suspended)) return 'Suspended';
  const ready = conditions.find((c) => c.type === ConditionType.Ready);
  if (!ready || ready.reason === Reason.WorkersStarting) return 'Pending';
  return 'Running';
}

const phaseEvents: Record<Phase, (from: Phase | undefined) => JobEvent | undefined> = {
  Pending: (from) =>
    from ? undefined : { type: 'Normal', reason: 'Accepted', message: 'starting worker pods' },
  Running: (from) =>
    from === 'Suspended'
      ? { type: 'Normal', reason: Reason.Resumed, message: 'job resumed; workers ready' }
      : { type: 'Normal', reason: Reason.Started, message: 'all worker pods ready; replicating' },
  Suspended: () => ({
    type: 'Normal',
    reason: Reason.Suspended,
    message: 'job suspended; worker pods removed',
  }),
  Succeeded: () => ({ type: 'Normal', reason: Reason.Succeeded, message: 'replication complete' }),
  Failed: () => ({ type: 'Warning', reason: Reason.Failed, message: 'replication failed' }),
};

interface SlotPlan {
  actions: Action[];
  events: JobEvent[];
  requeueAfterMs?: number;
  ready: boolean;
  /** Why the slot's pod cannot run, when its container says (podWaiting). */
  waiting?: string;
}

/** The pods of a slot that run or may still run, newest first. */
function livePods(slotPods: readonly k8s.V1Pod[]): k8s.V1Pod[] {
  return slotPods
    .filter((p) => !p.metadata?.deletionTimestamp && !podEnded(p))
    .sort((a, b) => podRestarts(b) - podRestarts(a));
}

interface SlotState {
  index: number;
  pods: k8s.V1Pod[];
  /** The slot's live pod (the newest, when a replaced one lingers). */
  current?: k8s.V1Pod;
  /** Whether `current` was made from an older template (podTemplate.ts). */
  outdated: boolean;
}

/**
 * Which outdated pods of a role are replaced now. One that is not ready goes at
 * once: it serves nothing (its NATS credential may have been revoked). A ready
 * one goes only when every other slot of the role has a ready pod (outdated or
 * not), and one per reconcile: the next waits until its replacement is ready.
 * So a bad new template (an image that cannot be pulled) stops at the first
 * slot while the others keep copying.
 */
function slotsToRoll(slots: readonly SlotState[]): Set<number> {
  const running = (s: SlotState) => s.current !== undefined && podReady(s.current);
  const roll = new Set<number>();
  let readyOneRolled = false;
  for (const slot of slots) {
    if (!slot.outdated) continue;
    if (!podReady(slot.current!)) roll.add(slot.index);
    else if (!readyOneRolled && slots.every((other) => other === slot || running(other))) {
      roll.add(slot.index);
      readyOneRolled = true;
    }
  }
  return roll;
}

/**
 * Keeps one live pod in a worker slot, replacing a failed one after back-off
 * and an outdated one when `roll` says so.
 */
function planSlot(
  observed: Observed,
  role: WorkerRole,
  index: number,
  slotPods: k8s.V1Pod[],
  settings: DecideSettings,
  roll: boolean,
  desired: k8s.V1Pod,
): SlotPlan {
  const { job, now } = observed;
  const live = livePods(slotPods);
  const ended = slotPods.filter((p) => !p.metadata?.deletionTimestamp && podEnded(p));
  const highestRestarts = Math.max(-1, ...slotPods.map(podRestarts));
  // Failures count only under the current template: a rollout starts them again.
  const failuresOf = (pod: k8s.V1Pod) => (podOutdated(pod, desired) ? 0 : podFailures(pod));
  const plan: SlotPlan = { actions: [], events: [], ready: false };

  if (live.length > 0) {
    // Keep the newest; a duplicate can only come from a replaced pod that lingered.
    const current = live[0]!;
    for (const extra of [...live.slice(1), ...ended])
      plan.actions.push({ kind: 'DeletePod', name: extra.metadata!.name! });
    if (roll) {
      // Made from an older spec or NATS access (podTemplate.ts): it goes, gracefully (a
      // source worker hands its tasks back), and the next reconcile, which no longer counts
      // the terminating pod as live, makes its replacement.
      plan.actions.push({ kind: 'DeletePod', name: current.metadata!.name! });
      plan.events.push({
        type: 'Normal',
        reason: Reason.WorkerPodOutdated,
        message: `${current.metadata!.name} was made from an older spec.workers or NATS access; replacing it`,
      });
      return plan;
    }
    plan.ready = podReady(current);
    if (!plan.ready) plan.waiting = podWaiting(current);
    return plan;
  }
  if (ended.length === 0) {
    plan.actions.push({
      kind: 'CreatePod',
      pod: desiredWorkerPod(
        job,
        role,
        index,
        highestRestarts + 1,
        settings,
        Math.max(0, ...slotPods.map(failuresOf)),
      ),
    });
    return plan;
  }
  const failed = ended.sort((a, b) => podRestarts(b) - podRestarts(a))[0]!;
  const backoffMs = Math.min(
    settings.podRestartBackoffBaseMs * 2 ** podFailures(failed),
    settings.podRestartBackoffMaxMs,
  );
  const dueAt = podEndedAt(failed, now) + backoffMs;
  if (now.getTime() < dueAt) {
    plan.requeueAfterMs = dueAt - now.getTime();
    return plan;
  }
  const replacement = desiredWorkerPod(
    job,
    role,
    index,
    highestRestarts + 1,
    settings,
    failuresOf(failed) + 1,
  );
  plan.actions.push({ kind: 'CreatePod', pod: replacement });
  for (const pod of ended) plan.actions.push({ kind: 'DeletePod', name: pod.metadata!.name! });
  plan.events.push({
    type: 'Warning',
    reason: Reason.WorkerPodRecreated,
    message: `${describePodEnd(failed)}; replaced by ${replacement.metadata!.name} after ${Math.round(backoffMs / 1000)}s back-off`,
  });
  return plan;
}

function minDefined(...values: (number | undefined)[]): number | undefined {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length ? Math.min(...defined) : undefined;
}

/** What a dry run found: the plan it would have carried out. */
export function dryRunReport(totals: NonNullable<EngineProgress['totals']>): string {
  return `dry run, nothing changed: the plan would copy ${totals.objectsToCopy} objects (${totals.bytesToCopy} bytes), delete ${totals.objectsToDelete} and skip ${totals.objectsSkipped} already identical`;
}

/** The job's counters, from the engine's ledger snapshot: exact, never above 100 %. */
function progressStatus(progress: EngineProgress, old: ReplicationJobStatus): Partial<ReplicationJobStatus> {
  const { totals, summary } = progress;
  if (!totals || !summary) return {};
  const copiedPercent =
    totals.bytesToCopy > 0
      ? (100 * summary.bytesCopied) / totals.bytesToCopy
      : totals.objectsToCopy > 0
        ? (100 * summary.objectsCopied) / totals.objectsToCopy
        : 100;
  return {
    objects: {
      // As the API documents it: what the plan copies or deletes.
      planned: totals.objectsToCopy + totals.objectsToDelete,
      copied: summary.objectsCopied,
      skipped: totals.objectsSkipped,
      deleted: summary.objectsDeleted,
      failed: summary.objectsFailed,
    },
    bytes: {
      planned: totals.bytesToCopy,
      copied: summary.bytesCopied,
      skipped: totals.bytesSkipped,
      deleted: 0,
      failed: 0,
    },
    tasks: {
      pending: summary.tasks.PENDING,
      dispatched: summary.tasks.DISPATCHED,
      running: summary.tasks.RUNNING,
      succeeded: summary.tasks.SUCCEEDED,
      failed: summary.tasks.FAILED,
    },
    // Unknown while planning goes on (a large job plans as long as it copies, ADR 0017): what is
    // planned so far is no measure of the whole.
    ...(progress.phase === 'planning'
      ? {}
      : { progressPercent: progress.phase === 'succeeded' ? 100 : Math.min(99, Math.floor(copiedPercent)) }),
    resumes: Math.max(old.resumes ?? 0, progress.epoch - 2, 0),
    // Emptied when a retry fixed them (a merge patch replaces the list).
    ...(summary.failedKeys.length || old.failedObjects?.length ? { failedObjects: summary.failedKeys } : {}),
  };
}

/**
 * A deleted job's uploads left open at a filesystem destination: a pod that
 * mounts the volume aborts them (uploadAbortPod.ts), waited for a bounded
 * time. `waitMs` while it runs; then the deletion goes on, saying what became
 * of them. Every wait is bounded, so a pod that cannot be created (a
 * terminating namespace, a quota) or cannot run never holds the deletion.
 * S3 destinations' uploads are aborted by RemoveExternalState.
 */
function planUploadAbort(
  observed: Observed,
  settings: DecideSettings,
): { actions: Action[]; events: JobEvent[]; waitMs?: number } {
  const { job, now } = observed;
  if (!job.spec.destination.filesystem) return { actions: [], events: [] };
  // A Date in the types, an RFC 3339 string from the API: new Date takes either.
  const since = (at: Date | string | undefined) => now.getTime() - new Date(at ?? now).getTime();
  const left = (why: string): JobEvent => ({
    type: 'Warning',
    reason: Reason.UploadsLeft,
    message: `uploads left open at the destination, their part files on its volume under .ferry-staging/: ${why}`,
  });
  const pod = observed.pods.find(isUploadAbortPod);
  if (!pod) {
    const uploads = observed.uploadsToAbort ?? [];
    if (uploads.length === 0) return { actions: [], events: [] };
    if (since(job.metadata!.deletionTimestamp) >= uploadAbortStartDeadlineMs)
      return {
        actions: [],
        events: [left(`no upload-abort pod could be created within ${uploadAbortStartDeadlineMs / 1000} s`)],
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
        ...(notHanded > 0 ? [left(`${notHanded} more than one pod's list holds`)] : []),
      ],
      waitMs: 2_000,
    };
  }
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
  const running = since(pod.metadata?.creationTimestamp);
  if (pod.status?.phase !== 'Failed' && running < uploadAbortDeadlineMs)
    return { actions: [], events: [], waitMs: 2_000 };
  const waiting = podWaiting(pod);
  const why =
    pod.status?.phase === 'Failed'
      ? describePodEnd(pod)
      : `${name} did not finish within ${uploadAbortDeadlineMs / 1000} s${waiting ? ` (${waiting})` : ''}`;
  return { actions: remove, events: [left(why)] };
}

export function decide(observed: Observed, settings: DecideSettings): Decision {
  const { job, pods, now } = observed;
  const meta = job.metadata!;
  const hasFinalizer = meta.finalizers?.includes(finalizer) ?? false;

  // Deletion: remove everything the job owns, inside and outside Kubernetes;
  // the finalizer goes last, once no worker pod is left (they may still be
  // finishing a task), so a deleted job leaves nothing behind.
  if (meta.deletionTimestamp) {
    if (!hasFinalizer) return { actions: [], events: [] };
    const workers = pods.filter((p) => !isUploadAbortPod(p));
    const actions: Action[] = workers
      .filter((p) => !p.metadata?.deletionTimestamp)
      .map((p) => ({ kind: 'DeletePod', name: p.metadata!.name! }));
    if (observed.tokenSecretExists) actions.push({ kind: 'DeleteTokenSecret' });
    if (workers.length > 0) return { actions, events: [], requeueAfterMs: 2_000 };
    const abort = planUploadAbort(observed, settings);
    actions.push(...abort.actions);
    if (abort.waitMs !== undefined) return { actions, events: abort.events, requeueAfterMs: abort.waitMs };
    actions.push({ kind: 'RemoveExternalState' }, { kind: 'RemoveFinalizer' });
    return { actions, events: abort.events };
  }

  const actions: Action[] = hasFinalizer ? [] : [{ kind: 'AddFinalizer' }];
  const events: JobEvent[] = [];
  const old = job.status ?? {};
  const generation = meta.generation ?? 0;
  let conditions: Condition[] = [...(old.conditions ?? [])];
  const set = (update: ConditionUpdate) => (conditions = setCondition(conditions, update, generation, now));
  let requeueAfterMs: number | undefined;
  const status: ReplicationJobStatus = { ...old, observedGeneration: generation };

  // spec.retryRequest, the one spec change that reopens a finished job: a new
  // value re-runs a Failed job's failed tasks (the engine re-sends the tasks it
  // gave up, once per value). On a job that is not Failed there is nothing to
  // retry: the value is recorded as seen, with an event saying so, and does
  // not linger to fire on a later failure.
  const retryRequest = job.spec.retryRequest;
  if (retryRequest !== undefined && retryRequest !== old.lastRetryRequest) {
    status.lastRetryRequest = retryRequest;
    if (isConditionTrue(conditions, ConditionType.Failed)) {
      const failedMessage = conditions.find((c) => c.type === ConditionType.Failed)!.message;
      // The job runs again: it has no completion time until it finishes anew.
      delete status.completionTime;
      set({
        type: ConditionType.Failed,
        status: 'False',
        reason: Reason.RetryRequested,
        message: `retry requested (${retryRequest})`,
      });
      events.push({
        type: 'Normal',
        reason: Reason.RetryRequested,
        message: `retrying the failed tasks (spec.retryRequest ${JSON.stringify(retryRequest)}); they had failed with: ${failedMessage}`,
      });
    } else {
      events.push({
        type: 'Normal',
        reason: Reason.RetryIgnored,
        message: `spec.retryRequest ${JSON.stringify(retryRequest)} ignored: the job is ${old.phase ?? 'Pending'}, not Failed; there is nothing to retry`,
      });
    }
  }

  const finished =
    isConditionTrue(conditions, ConditionType.Complete) || isConditionTrue(conditions, ConditionType.Failed);
  const suspended = job.spec.suspend === true;
  const readyCounts: Record<WorkerRole, number> = { source: 0, destination: 0 };

  if (finished || suspended) {
    // No worker runs for a finished or suspended job.
    for (const pod of pods)
      if (!pod.metadata?.deletionTimestamp) actions.push({ kind: 'DeletePod', name: pod.metadata!.name! });
    const why = finished ? Reason.Finished : Reason.Suspended;
    set({
      type: ConditionType.Ready,
      status: 'False',
      reason: why,
      message: finished ? 'job finished' : 'job suspended',
    });
    set({
      type: ConditionType.Reconciling,
      status: 'False',
      reason: why,
      message: finished ? 'job finished' : 'job suspended',
    });
    if (!finished) {
      set({
        type: ConditionType.Suspended,
        status: 'True',
        reason: Reason.Suspended,
        message: 'spec.suspend is true',
      });
    }
    // kstatus reads Stalled=True as failed: a job that ran out of attempts needs a person.
    const failedCondition = conditions.find((c) => c.type === ConditionType.Failed && c.status === 'True');
    set(
      failedCondition
        ? {
            type: ConditionType.Stalled,
            status: 'True',
            reason: Reason.Failed,
            message: failedCondition.message,
          }
        : { type: ConditionType.Stalled, status: 'False', reason: Reason.NoFailure, message: 'no failure' },
    );
    if (finished && job.spec.ttlSecondsAfterFinished !== undefined && old.completionTime) {
      const expiresAt = new Date(old.completionTime).getTime() + job.spec.ttlSecondsAfterFinished * 1000;
      if (now.getTime() >= expiresAt) actions.push({ kind: 'DeleteJob' });
      else requeueAfterMs = expiresAt - now.getTime();
    }
  } else {
    // A job's first start: its token and its queues, before its workers.
    if (!observed.tokenSecretExists)
      actions.push({ kind: 'CreateTokenSecret' }, { kind: 'EnsureJobStreams' });
    else if (
      observed.workerSecretNats &&
      !sameNatsEntries(observed.workerSecretNats, settings.natsSecretData)
    )
      actions.push({ kind: 'UpdateWorkerSecretNats' });
    status.startTime ??= rfc3339(now);
    let allReady = true;
    const waiting: string[] = [];
    for (const role of workerRoles) {
      const replicas = desiredReplicas(job, role);
      const rolePods = pods.filter((p) => p.metadata?.labels?.[labels.role] === role);
      // The template is the same for every slot of a role; its digest ignores names and restarts.
      const desired = desiredWorkerPod(job, role, 0, 0, settings);
      const slots: SlotState[] = Array.from({ length: replicas }, (_, index) => {
        const slotPods = rolePods.filter((p) => p.metadata?.labels?.[labels.slot] === slotName(role, index));
        const current = livePods(slotPods)[0];
        return { index, pods: slotPods, current, outdated: !!current && podOutdated(current, desired) };
      });
      const rolling = slotsToRoll(slots);
      for (const { index, pods: slotPods } of slots) {
        const plan = planSlot(observed, role, index, slotPods, settings, rolling.has(index), desired);
        actions.push(...plan.actions);
        events.push(...plan.events);
        requeueAfterMs = minDefined(requeueAfterMs, plan.requeueAfterMs);
        if (plan.ready) readyCounts[role]++;
        else allReady = false;
        if (plan.waiting) waiting.push(plan.waiting);
      }
      // Scale down: pods in slots beyond the desired replica count.
      for (const pod of rolePods) {
        const index = Number(pod.metadata?.labels?.[labels.slot]?.split('-').pop());
        if (index >= replicas && !pod.metadata?.deletionTimestamp)
          actions.push({ kind: 'DeletePod', name: pod.metadata!.name! });
      }
    }
    const wasReady = conditions.some(
      (c) => c.type === ConditionType.Ready && (c.status === 'True' || c.reason === Reason.WorkersNotReady),
    );
    set(
      allReady
        ? {
            type: ConditionType.Ready,
            status: 'True',
            reason: Reason.WorkersReady,
            message: 'all worker pods are ready',
          }
        : {
            type: ConditionType.Ready,
            status: 'False',
            reason: wasReady ? Reason.WorkersNotReady : Reason.WorkersStarting,
            message:
              `ready workers: source ${readyCounts.source}/${desiredReplicas(job, 'source')}, destination ${readyCounts.destination}/${desiredReplicas(job, 'destination')}` +
              // Why, when a pod says: a job whose pods cannot start shows it here rather than only in kubectl describe pod.
              (waiting.length
                ? `; ${waiting.slice(0, 2).join('; ')}${waiting.length > 2 ? ` (and ${waiting.length - 2} more)` : ''}`
                : ''),
          },
    );
    set({
      type: ConditionType.Reconciling,
      status: 'True',
      reason: Reason.Replicating,
      message: 'replication in progress',
    });
    set({
      type: ConditionType.Suspended,
      status: 'False',
      reason: Reason.NotSuspended,
      message: 'spec.suspend is false',
    });
    set({
      type: ConditionType.Complete,
      status: 'False',
      reason: Reason.InProgress,
      message: 'replication in progress',
    });
    set({ type: ConditionType.Failed, status: 'False', reason: Reason.NoFailure, message: 'no failure' });
    set({ type: ConditionType.Stalled, status: 'False', reason: Reason.NoFailure, message: 'no failure' });
  }

  if (observed.progress && !finished && !suspended) {
    Object.assign(status, progressStatus(observed.progress, old));
    if (observed.progress.phase === 'succeeded') {
      status.completionTime = rfc3339(now);
      set({
        type: ConditionType.Complete,
        status: 'True',
        reason: Reason.Succeeded,
        message:
          job.spec.deletion?.dryRun && observed.progress.totals
            ? dryRunReport(observed.progress.totals)
            : 'every task succeeded',
      });
      set({
        type: ConditionType.Reconciling,
        status: 'False',
        reason: Reason.Finished,
        message: 'job finished',
      });
    } else if (observed.progress.phase === 'failed') {
      const failure = observed.progress.failure!;
      status.completionTime = rfc3339(now);
      status.lastFailure = { reason: failure.reason, message: failure.message, time: rfc3339(now) };
      set({ type: ConditionType.Failed, status: 'True', reason: failure.reason, message: failure.message });
      set({ type: ConditionType.Stalled, status: 'True', reason: Reason.Failed, message: failure.message });
      set({
        type: ConditionType.Reconciling,
        status: 'False',
        reason: Reason.Finished,
        message: 'job finished',
      });
    }
  }

  status.conditions = conditions;
  status.workers = { sourceReady: readyCounts.source, destinationReady: readyCounts.destination };
  status.phase = derivePhase(conditions);
  if (status.phase !== old.phase) {
    const event = phaseEvents[status.phase](old.phase);
    // A failure's event names what failed, as the Failed condition does.
    const failedMessage = conditions.find(
      (c) => c.type === ConditionType.Failed && c.status === 'True',
    )?.message;
    if (event)
      events.push(status.phase === 'Failed' && failedMessage ? { ...event, message: failedMessage } : event);
  }
  return { actions, status, events, requeueAfterMs };
}
