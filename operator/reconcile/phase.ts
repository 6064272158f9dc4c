// The phase shown to people (kubectl get rj): derived from the conditions,
// never stored as a fact (ADR 0003), and an event when it changes.
import type { Condition } from '../../api/v1alpha1/index.ts';
import { ConditionType, isConditionTrue, Reason } from './conditions.ts';
import type { JobEvent, Phase } from './decision.ts';
import { failureMessage } from './jobConditions.ts';

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

/** The event for a move from `from` to `to`, if any; a failure's event names what failed, as the Failed condition does. */
export function phaseEvent(
  from: Phase | undefined,
  to: Phase,
  conditions: readonly Condition[],
): JobEvent | undefined {
  if (to === from) return undefined;
  const event = phaseEvents[to](from);
  const failure = failureMessage(conditions);
  return event && to === 'Failed' && failure ? { ...event, message: failure } : event;
}
