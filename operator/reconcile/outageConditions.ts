// The Degraded condition: whether the job's engine waits for something it
// depends on — a store, the ledger's etcd, NATS — to come back (engine/outage.ts,
// ADR 0030). An outage is shown, not counted as a resume: Degraded=True names
// what is out of reach and the error, a Warning event says so once when the
// outage starts (or becomes another), a Normal event once when it is over.
// Degraded is an extra condition: kstatus and the Complete/Failed pair ignore it.
import type { Condition } from '../../api/v1alpha1/index.ts';
import type { Outage } from '../engine/outage.ts';
import { ConditionType, Reason, type ConditionUpdate } from './conditions.ts';
import type { JobEvent, PolicyOutcome } from './decision.ts';

const reachable: ConditionUpdate = {
  type: ConditionType.Degraded,
  status: 'False',
  reason: Reason.Reachable,
  message: 'the stores, the ledger and NATS answer',
};

function degraded(outage: Outage): ConditionUpdate {
  return {
    type: ConditionType.Degraded,
    status: 'True',
    reason: outage.reason,
    message: `${outage.message} (since ${outage.since}); the job waits and goes on when it is back`,
  };
}

/**
 * The running engine's outage, if any, as the Degraded condition and its
 * events. Degraded appears with the job's first outage and stays after it,
 * False, so a reader sees there was one.
 */
export function outagePolicy(outage: Outage | undefined, conditions: readonly Condition[]): PolicyOutcome {
  const before = conditions.find((c) => c.type === ConditionType.Degraded);
  const wasDegraded = before?.status === 'True';
  if (!outage) {
    if (!wasDegraded) return {};
    const event: JobEvent = {
      type: 'Normal',
      reason: Reason.Recovered,
      message: `reachable again after ${before.reason}`,
    };
    return { conditions: [reachable], events: [event] };
  }
  const update = degraded(outage);
  const isNew = !wasDegraded || before.reason !== outage.reason;
  return {
    conditions: [update],
    events: isNew ? [{ type: 'Warning', reason: outage.reason, message: update.message }] : [],
  };
}

/** A job that no longer runs is not degraded: nothing of it waits. */
export function outageEnded(conditions: readonly Condition[]): PolicyOutcome {
  const before = conditions.find((c) => c.type === ConditionType.Degraded);
  return before?.status === 'True'
    ? { conditions: [{ ...reachable, message: 'no engine runs for the job' }] }
    : {};
}
