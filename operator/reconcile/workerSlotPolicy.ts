// Worker pod slots (ADR 0003, 0015, 0022, 0032): each slot of a role keeps one live pod.
// A failed pod is replaced after a back-off that doubles with the slot's
// failures under the current template (a pod killed from outside is not a
// failure, and a long healthy run starts the count again); an outdated pod is rolled, one ready
// pod at a time; pods beyond the replica count go. The Ready condition counts
// the slots whose pod is ready.
import type * as k8s from '@kubernetes/client-node';
import type { Condition, ReplicationJob } from '../../api/v1alpha1/index.ts';
import { labels, workerRoles, type WorkerRole } from '../../api/names.ts';
import { backoffDelay } from '../../common/backoff.ts';
import { ConditionType, Reason, type ConditionUpdate } from './conditions.ts';
import {
  earliest,
  type Action,
  type DecideSettings,
  type JobEvent,
  type Observed,
  type PolicyOutcome,
} from './decision.ts';
import { podOutdated } from './podTemplate.ts';
import {
  describePodEnd,
  livePods,
  podEnded,
  podEndedAt,
  podFailures,
  podKilledFromOutside,
  podRanForMs,
  podReady,
  podRestarts,
  podWaiting,
} from './podState.ts';
import { desiredReplicas, desiredWorkerPod, slotName } from './workerPods.ts';

interface SlotState {
  role: WorkerRole;
  index: number;
  pods: k8s.V1Pod[];
  /** The slot's live pod (the newest, when a replaced one lingers). */
  current?: k8s.V1Pod;
  /** Whether `current` was made from an older template (podTemplate.ts). */
  outdated: boolean;
}

interface SlotPlan {
  actions: Action[];
  events: JobEvent[];
  requeueAfterMs?: number;
  ready: boolean;
  /** Why the slot's pod cannot run, when its container says (podWaiting). */
  waiting?: string;
}

/** What every slot of a role shares: the job, the clock, the settings and the role's desired pod. */
interface RoleContext {
  job: ReplicationJob;
  now: Date;
  settings: DecideSettings;
  /** The template is the same for every slot of a role; its digest ignores names and restarts. */
  desired: k8s.V1Pod;
}

/**
 * Which outdated pods of a role are replaced now. One that is not ready goes at
 * once: it serves nothing (its NATS credential may have been revoked). A ready
 * one goes only when every other slot of the role has a ready pod (outdated or
 * not), and one per reconcile: the next waits until its replacement is ready.
 * So a bad new template (an image that cannot be pulled) stops at the first
 * slot while the others keep copying.
 */
export function slotsToRoll(slots: readonly SlotState[]): Set<number> {
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

/** A slot with a live pod: keep it (dropping lingering duplicates), or roll it. */
function keepLivePod(slot: SlotState, ended: k8s.V1Pod[], roll: boolean): SlotPlan {
  const [current, ...duplicates] = livePods(slot.pods);
  // A duplicate can only come from a replaced pod that lingered.
  const actions: Action[] = [...duplicates, ...ended].map((p) => ({
    kind: 'DeletePod',
    name: p.metadata!.name!,
  }));
  if (roll) {
    // Made from an older spec or NATS access (podTemplate.ts): it goes, gracefully (a source
    // worker hands its tasks back), and the next reconcile, which no longer counts the
    // terminating pod as live, makes its replacement.
    const name = current!.metadata!.name!;
    actions.push({ kind: 'DeletePod', name });
    return {
      actions,
      ready: false,
      events: [
        {
          type: 'Normal',
          reason: Reason.WorkerPodOutdated,
          message: `${name} was made from an older spec.workers or NATS access; replacing it`,
        },
      ],
    };
  }
  const ready = podReady(current!);
  return { actions, events: [], ready, ...(ready ? {} : { waiting: podWaiting(current!) }) };
}

/**
 * A pod that ran this long before it ended was healthy: its end, whatever it
 * was, starts its slot's doubling again (as the kubelet forgets a container's
 * crash-loop back-off after it ran for a while).
 */
export const healthyRunResetsFailuresMs = 120_000;

/**
 * What an ended pod leaves its slot (ADR 0015, 0022, 0032): the slot's failures so
 * far (0 after a rollout or a long healthy run), whether this end counts as one
 * more, and the back-off before the replacement. A pod killed from outside
 * (podKilledFromOutside) did not fail: it is replaced after the base back-off
 * and its slot's count stays where it was, so a cluster that kills pods does
 * not push the slot towards the five-minute cap.
 */
export function slotAfterEnd(
  failed: k8s.V1Pod,
  desired: k8s.V1Pod,
  settings: Pick<DecideSettings, 'podRestartBackoffBaseMs' | 'podRestartBackoffMaxMs'>,
): { failures: number; killed: boolean; backoffMs: number } {
  const healthy = podRanForMs(failed) >= healthyRunResetsFailuresMs;
  // Failures count only under the current template: a rollout starts them again.
  const before = podOutdated(failed, desired) || healthy ? 0 : podFailures(failed);
  const killed = podKilledFromOutside(failed);
  const failures = killed ? before : before + 1;
  const backoff = { initialMs: settings.podRestartBackoffBaseMs, maxMs: settings.podRestartBackoffMaxMs };
  return { failures, killed, backoffMs: backoffDelay(backoff, killed ? 1 : failures) };
}

/** A slot whose pod failed: replace it once its back-off has passed. */
function replaceFailedPod(slot: SlotState, ended: k8s.V1Pod[], context: RoleContext): SlotPlan {
  const { job, now, settings, desired } = context;
  const failed = ended.sort((a, b) => podRestarts(b) - podRestarts(a))[0]!;
  const { failures, killed, backoffMs } = slotAfterEnd(failed, desired, settings);
  const dueAt = podEndedAt(failed, now) + backoffMs;
  if (now.getTime() < dueAt)
    return { actions: [], events: [], ready: false, requeueAfterMs: dueAt - now.getTime() };
  const restarts = Math.max(-1, ...slot.pods.map(podRestarts)) + 1;
  const replacement = desiredWorkerPod(job, slot.role, slot.index, restarts, settings, failures);
  const why = killed ? ', killed from outside (not counted as a failure)' : '';
  return {
    actions: [
      { kind: 'CreatePod', pod: replacement },
      ...ended.map((pod): Action => ({ kind: 'DeletePod', name: pod.metadata!.name! })),
    ],
    ready: false,
    events: [
      {
        type: 'Warning',
        reason: Reason.WorkerPodRecreated,
        message: `${describePodEnd(failed)}${why}; replaced by ${replacement.metadata!.name} after ${Math.round(backoffMs / 1000)}s back-off`,
      },
    ],
  };
}

/** Keeps one live pod in a worker slot, replacing a failed one after back-off and an outdated one when `roll` says so. */
function planSlot(slot: SlotState, context: RoleContext, roll: boolean): SlotPlan {
  const ended = slot.pods.filter((p) => !p.metadata?.deletionTimestamp && podEnded(p));
  if (slot.current) return keepLivePod(slot, ended, roll);
  if (ended.length > 0) return replaceFailedPod(slot, ended, context);
  // An empty slot (a new job, a pod gone): its next pod at once.
  const { job, settings, desired } = context;
  const restarts = Math.max(-1, ...slot.pods.map(podRestarts)) + 1;
  const failures = Math.max(0, ...slot.pods.map((p) => (podOutdated(p, desired) ? 0 : podFailures(p))));
  return {
    actions: [
      { kind: 'CreatePod', pod: desiredWorkerPod(job, slot.role, slot.index, restarts, settings, failures) },
    ],
    events: [],
    ready: false,
  };
}

/** The slots of a role as its pods fill them. */
function roleSlots(rolePods: readonly k8s.V1Pod[], role: WorkerRole, context: RoleContext): SlotState[] {
  return Array.from({ length: desiredReplicas(context.job, role) }, (_, index) => {
    const pods = rolePods.filter((p) => p.metadata?.labels?.[labels.slot] === slotName(role, index));
    const current = livePods(pods)[0];
    return { role, index, pods, current, outdated: !!current && podOutdated(current, context.desired) };
  });
}

/** Scale down: pods in slots beyond the desired replica count. */
function podsBeyondReplicas(rolePods: readonly k8s.V1Pod[], replicas: number): Action[] {
  return rolePods
    .filter((pod) => Number(pod.metadata?.labels?.[labels.slot]?.split('-').pop()) >= replicas)
    .filter((pod) => !pod.metadata?.deletionTimestamp)
    .map((pod) => ({ kind: 'DeletePod', name: pod.metadata!.name! }));
}

function readyCondition(
  job: ReplicationJob,
  readyCounts: Record<WorkerRole, number>,
  waiting: readonly string[],
  conditions: readonly Condition[],
): ConditionUpdate {
  const replicas = (role: WorkerRole) => desiredReplicas(job, role);
  if (workerRoles.every((role) => readyCounts[role] === replicas(role)))
    return {
      type: ConditionType.Ready,
      status: 'True',
      reason: Reason.WorkersReady,
      message: 'all worker pods are ready',
    };
  const wasReady = conditions.some(
    (c) => c.type === ConditionType.Ready && (c.status === 'True' || c.reason === Reason.WorkersNotReady),
  );
  // Why, when a pod says: a job whose pods cannot start shows it here rather than only in kubectl describe pod.
  const why = waiting.length
    ? `; ${waiting.slice(0, 2).join('; ')}${waiting.length > 2 ? ` (and ${waiting.length - 2} more)` : ''}`
    : '';
  return {
    type: ConditionType.Ready,
    status: 'False',
    reason: wasReady ? Reason.WorkersNotReady : Reason.WorkersStarting,
    message: `ready workers: source ${readyCounts.source}/${replicas('source')}, destination ${readyCounts.destination}/${replicas('destination')}${why}`,
  };
}

/**
 * The worker pods of a job that runs: every slot of every role planned, the
 * Ready condition (`conditions` tell a job that was ready from one starting)
 * and the ready counts in status.workers.
 */
export function workerSlotPolicy(
  observed: Observed,
  settings: DecideSettings,
  conditions: readonly Condition[],
): PolicyOutcome {
  const { job, pods, now } = observed;
  const outcome = {
    actions: [] as Action[],
    events: [] as JobEvent[],
    requeueAfterMs: undefined as number | undefined,
  };
  const readyCounts: Record<WorkerRole, number> = { source: 0, destination: 0 };
  const waiting: string[] = [];
  for (const role of workerRoles) {
    const context: RoleContext = { job, now, settings, desired: desiredWorkerPod(job, role, 0, 0, settings) };
    const rolePods = pods.filter((p) => p.metadata?.labels?.[labels.role] === role);
    const slots = roleSlots(rolePods, role, context);
    const rolling = slotsToRoll(slots);
    for (const slot of slots) {
      const plan = planSlot(slot, context, rolling.has(slot.index));
      outcome.actions.push(...plan.actions);
      outcome.events.push(...plan.events);
      outcome.requeueAfterMs = earliest(outcome.requeueAfterMs, plan.requeueAfterMs);
      if (plan.ready) readyCounts[role]++;
      if (plan.waiting) waiting.push(plan.waiting);
    }
    outcome.actions.push(...podsBeyondReplicas(rolePods, slots.length));
  }
  return {
    ...outcome,
    conditions: [readyCondition(job, readyCounts, waiting, conditions)],
    status: { workers: { sourceReady: readyCounts.source, destinationReady: readyCounts.destination } },
  };
}
