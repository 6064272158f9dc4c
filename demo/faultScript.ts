// The demo's faults, injected part-way through the job, one after the other:
//
//  1. at 20 % of the tasks done, SIGKILL a source worker pod that holds tasks
//     (the pod runner kills its process, as a node's OOM killer would); the
//     operator replaces the pod;
//  2. once the replacement is ready and 45 % of the tasks are done, SIGKILL the
//     leading operator replica (no shutdown hook runs, its lease is not
//     released); the standby replica takes the lease when it expires and
//     resumes the job from the ledger; a new replica is started in the killed
//     one's place, as its Deployment would.
//
// In this order the tasks the killed worker held are re-sent by the new
// leader's resume at the latest. JetStream may redeliver them before that,
// once the task ack-wait has passed: the demo's operators run with 15 s
// (FERRY_TASK_ACK_WAIT_MS) rather than the default 60 s.
import type { Etcd3 } from 'etcd3';
import type { ReplicationJob } from '../api/v1alpha1/index.ts';
import type { BedEndpoints } from '../test/bed/controlPlane.ts';
import type { PodRunner } from '../test/podrunner/podRunner.ts';
import { OperatorProcess, type OperatorOptions } from '../test/support/operatorProcess.ts';
import { runningTasks, type HeldTask } from './ledgerReport.ts';

export interface FaultScriptDeps {
  bed: BedEndpoints;
  runner: PodRunner;
  etcd: Etcd3;
  /** The operator replicas; the script replaces the one it kills. */
  operators: OperatorProcess[];
  operatorOptions: (identity: string) => OperatorOptions;
  /** Names and readiness of the job's pods. */
  pods: (jobUid: string) => Promise<{ name: string; slot: string; ready: boolean }[]>;
  say: (line: string) => void;
}

export interface FaultRecord {
  /** The source worker pod killed, and the tasks the ledger showed it running then. */
  killedWorker?: { pod: string; tasks: HeldTask[]; replacement?: string; readyAfterS?: number };
  killedOperator?: { identity: string; successor?: string; takeoverAfterS?: number; resumesBefore: number };
}

type Stage = 'kill-worker' | 'await-replacement' | 'kill-operator' | 'await-takeover' | 'done';

const seconds = (since: number) => Number(((Date.now() - since) / 1000).toFixed(1));

export class FaultScript {
  readonly record: FaultRecord = {};
  private stage: Stage = 'kill-worker';
  private workerKilledAt = 0;
  private operatorKilledAt = 0;
  private replacement: Promise<void> | undefined;
  private readonly deps: FaultScriptDeps;

  constructor(deps: FaultScriptDeps) {
    this.deps = deps;
  }

  get finished(): boolean {
    return this.stage === 'done';
  }

  /** What has not happened yet, for the summary when the job finished first. */
  get pending(): string | undefined {
    return this.finished ? undefined : this.stage;
  }

  /** Called with every status the demo reads; takes the next step when it is due. */
  async advance(job: ReplicationJob): Promise<void> {
    const t = job.status?.tasks;
    const total = t ? (t.pending ?? 0) + (t.dispatched ?? 0) + (t.running ?? 0) + (t.succeeded ?? 0) : 0;
    const doneShare = total > 0 ? (t!.succeeded ?? 0) / total : 0;
    const uid = job.metadata!.uid!;
    switch (this.stage) {
      case 'kill-worker':
        if (doneShare >= 0.2) await this.killBusySourceWorker(job, uid);
        return;
      case 'await-replacement':
        return this.awaitReplacement(uid);
      case 'kill-operator':
        if (doneShare >= 0.45) await this.killLeader(job);
        return;
      case 'await-takeover':
        return this.awaitTakeover(job);
    }
  }

  private async killBusySourceWorker(job: ReplicationJob, uid: string): Promise<void> {
    const prefix = `${job.metadata!.name}-source-`;
    const held = (await runningTasks(this.deps.etcd, uid)).filter((h) => h.worker.startsWith(prefix));
    // The pod that most recently started a task: the likeliest to be mid-copy.
    for (const pod of new Set(held.map((h) => h.worker))) {
      if (!this.deps.runner.killProcess(job.metadata!.namespace!, pod, 'SIGKILL')) continue;
      this.workerKilledAt = Date.now();
      const tasks = held.filter((h) => h.worker === pod);
      this.record.killedWorker = { pod, tasks };
      const objects = tasks.reduce((n, t) => n + t.objects, 0);
      const bytes = tasks.reduce((n, t) => n + t.bytes, 0);
      this.deps.say(
        `SIGKILL worker pod ${pod}: it was copying ${tasks.length} task(s) (${objects} objects, ` +
          `${(bytes / 1024 / 1024).toFixed(1)} MiB) and never reports them done`,
      );
      this.stage = 'await-replacement';
      return;
    }
  }

  private async awaitReplacement(uid: string): Promise<void> {
    const killed = this.record.killedWorker!;
    const pods = await this.deps.pods(uid);
    const slot =
      pods.find((p) => p.name === killed.pod)?.slot ?? killed.pod.replace(/^.*-(source-\d+)-\d+$/, '$1');
    const replacement = pods.find((p) => p.slot === slot && p.name !== killed.pod && p.ready);
    if (!replacement) return;
    killed.replacement = replacement.name;
    killed.readyAfterS = seconds(this.workerKilledAt);
    this.deps.say(
      `the operator replaced ${killed.pod} with ${replacement.name}: ready ${killed.readyAfterS} s after the kill`,
    );
    this.stage = 'kill-operator';
  }

  private async killLeader(job: ReplicationJob): Promise<void> {
    const { operators } = this.deps;
    let leader: OperatorProcess | undefined;
    for (const op of operators) if (op.running && (await op.metric('ferry_leader')) === 1) leader = op;
    if (!leader) return; // a lease hand-over in progress: try on the next status
    await leader.kill();
    this.operatorKilledAt = Date.now();
    this.record.killedOperator = {
      identity: leader.options.identity,
      resumesBefore: job.status?.resumes ?? 0,
    };
    this.deps.say(
      `SIGKILL operator ${leader.options.identity} (the leader): no shutdown, its lease stays held until it expires`,
    );
    operators.splice(operators.indexOf(leader), 1);
    // Started without waiting for it, so the status lines go on meanwhile.
    const identity = `ferry-operator-${operators.length + 1}`;
    this.replacement = OperatorProcess.start(this.deps.bed, this.deps.operatorOptions(identity)).then(
      (op) => {
        operators.push(op);
        this.deps.say(`${identity} started in its place (as its Deployment would), on standby`);
      },
      // The job does not need it: the standby replica takes over either way.
      (err: unknown) => this.deps.say(`${identity} did not start: ${(err as Error).message}`),
    );
    this.stage = 'await-takeover';
  }

  /** Resolves once the operator started in place of the killed one runs (or failed to start). */
  async settled(): Promise<void> {
    await this.replacement;
  }

  private async awaitTakeover(job: ReplicationJob): Promise<void> {
    const killed = this.record.killedOperator!;
    for (const op of this.deps.operators) {
      if (!op.running || (await op.metric('ferry_leader')) !== 1) continue;
      killed.successor = op.options.identity;
      killed.takeoverAfterS = seconds(this.operatorKilledAt);
    }
    // The new leader has taken over once it also resumed the job (a new epoch).
    if (!killed.successor || (job.status?.resumes ?? 0) <= killed.resumesBefore) return;
    this.deps.say(
      `${killed.successor} holds the lease (seen ${killed.takeoverAfterS} s after the kill) and resumed the job ` +
        `from the ledger: a new epoch (status.resumes ${job.status?.resumes}), every task not SUCCEEDED re-sent`,
    );
    this.deps.say(
      "the old epoch's task messages still queued were withdrawn; a task a worker already had in hand " +
        'finishes, but its report is fenced off (stale epoch) and the re-sent copy counts',
    );
    this.stage = 'done';
  }
}
