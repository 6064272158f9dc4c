// decide: the operator's policy, as a pure function of the job, what was
// observed about it, and the clock (ADR 0003: gather → decide → apply → record).
// It composes the named policies of this folder and returns the actions to
// apply, the status to record, the events to emit and when to look again.
import type { Condition, ReplicationJob, ReplicationJobStatus } from '../../api/v1alpha1/index.ts';
import { setCondition } from './conditions.ts';
import {
  earliest,
  type Action,
  type DecideSettings,
  type Decision,
  type JobEvent,
  type Observed,
  type PolicyOutcome,
} from './decision.ts';
import { deletionPolicy, finalizerPolicy } from './deletionPolicy.ts';
import { outageEnded, outagePolicy } from './outageConditions.ts';
import { phaseEvent, derivePhase } from './phase.ts';
import { progressPolicy } from './progress.ts';
import { retryRequestPolicy } from './retryRequestPolicy.ts';
import { runningJobPolicy, stopReason, stoppedJobPolicy } from './jobStatusPolicy.ts';
import { workerSlotPolicy } from './workerSlotPolicy.ts';

export type { Action, DecideSettings, Decision, JobEvent, Observed } from './decision.ts';

export function decide(observed: Observed, settings: DecideSettings): Decision {
  const { job, now } = observed;
  if (job.metadata!.deletionTimestamp) return deletionPolicy(observed, settings);
  const draft = new DecisionDraft(job, now);
  draft.add(finalizerPolicy(job));
  draft.add(retryRequestPolicy(job, draft.conditions));
  const stopped = stopReason(job, draft.conditions);
  if (stopped) {
    draft.add(stoppedJobPolicy(observed, stopped, draft.conditions));
    draft.add(outageEnded(draft.conditions));
  } else {
    draft.add(runningJobPolicy(observed, settings));
    draft.add(workerSlotPolicy(observed, settings, draft.conditions));
    if (observed.progress) {
      draft.add(outagePolicy(observed.progress.outage, draft.conditions));
      draft.add(progressPolicy(observed.progress, job, now));
    }
  }
  return draft.decision();
}

/** A decision being composed from policy outcomes, in the order they are added (PolicyOutcome). */
class DecisionDraft {
  readonly actions: Action[] = [];
  readonly events: JobEvent[] = [];
  conditions: Condition[];
  private readonly status: ReplicationJobStatus;
  private requeueAfterMs: number | undefined;
  private readonly job: ReplicationJob;
  private readonly now: Date;

  constructor(job: ReplicationJob, now: Date) {
    this.job = job;
    this.now = now;
    this.conditions = [...(job.status?.conditions ?? [])];
    this.status = { ...job.status, observedGeneration: this.generation };
  }

  private get generation(): number {
    return this.job.metadata!.generation ?? 0;
  }

  add(outcome: PolicyOutcome): void {
    this.actions.push(...(outcome.actions ?? []));
    this.events.push(...(outcome.events ?? []));
    for (const update of outcome.conditions ?? [])
      this.conditions = setCondition(this.conditions, update, this.generation, this.now);
    const fields = outcome.status ?? {};
    Object.assign(this.status, fields);
    for (const [field, value] of Object.entries(fields))
      if (value === undefined) delete this.status[field as keyof ReplicationJobStatus];
    this.requeueAfterMs = earliest(this.requeueAfterMs, outcome.requeueAfterMs);
  }

  /** The decision, with the phase derived from the conditions and the event of a phase change. */
  decision(): Decision {
    const phase = derivePhase(this.conditions);
    const event = phaseEvent(this.job.status?.phase, phase, this.conditions);
    return {
      actions: this.actions,
      status: { ...this.status, conditions: this.conditions, phase },
      events: event ? [...this.events, event] : this.events,
      requeueAfterMs: this.requeueAfterMs,
    };
  }
}
