// A source worker's task loop: pull tasks of the job from JetStream (as many
// at once as the worker's concurrency; their objects share that many
// streams), report RUNNING, carry each out against a destination worker,
// report the outcome, and only then acknowledge the task. A worker that dies mid-task never acks it, so
// JetStream hands it to another worker after ack-wait; while a long task runs,
// `working()` keeps extending that deadline — but only while the task moves
// bytes (or waits, boundedly, for a destination): a task whose transfer stalls
// stops being extended, and its transfer is cut by the idle timeout.
import http from 'node:http';
import type { Consumer, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { streams } from '../api/names.ts';
import { backoffDelay, type Backoff } from '../common/backoff.ts';
import { withFields, type Logger } from '../common/logging.ts';
import { statusSubject, taskConsumerName, type StatusMessage, type TaskMessage } from '../api/tasks.ts';
import type { WorkerMetrics } from './metrics.ts';
import { Permits } from './permits.ts';
import type { ObjectStore } from '../storage/objectStore.ts';
import { runCopyPartTask } from './transfer/copyPartTask.ts';
import { runCopyTask, type BandwidthLimiter, type CopyOutcome } from './transfer/copyTask.ts';
import type { DestinationTarget } from './transfer/destinationClient.ts';
import { runDeleteTask } from './transfer/deleteTask.ts';

export interface TaskLoopOptions {
  js: JetStreamClient;
  jobUid: string;
  worker: string;
  source: ObjectStore;
  /**
   * A destination worker's base URL (see endpoints.ts), waiting a bounded time
   * while none is announced; `waiting` is told while it waits (the task is alive).
   */
  pickDestination: (waiting: () => void) => Promise<string>;
  /** Told when a destination refused a connection (its pod is gone), so it is not picked again. */
  destinationRefused?: (url: string) => void;
  token: string;
  /** Object streams at once, shared by the tasks the worker holds (it holds as many tasks). */
  concurrency: number;
  log: Logger;
  /** How often a running task tells JetStream it is still being worked on. */
  workingIntervalMs?: number;
  /** This worker's share of the job's bandwidth limit. */
  bandwidth?: BandwidthLimiter;
  metrics?: WorkerMetrics;
  /** Transfers with no byte moving for this long are cut (retryable); also how long an idle task's deadline is still extended. */
  idleTimeoutMs?: number;
}

/** A destination worker refused the connection: its pod is gone. */
class DestinationRefused extends Error {}

/** Destinations a task is tried against (each refusing) before it is handed back. */
const destinationTries = 3;

/** The delay before a task handed back is delivered again, by its delivery count. */
const redeliveryBackoff: Backoff = { initialMs: 1_000, maxMs: 10_000 };

type Outcome = Pick<StatusMessage, 'state' | 'objectsDone' | 'bytesDone' | 'error' | 'taskSeq'>;

/** A task message the worker holds: until it is acked, or handed back at shutdown. */
interface Held {
  handedBack: boolean;
  /** When the task last moved a byte (or waited for a destination, or began). */
  progressAt: number;
}

export class SourceTaskLoop {
  private readonly options: TaskLoopOptions;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly permits: Permits;
  private readonly held = new Map<JsMsg, Held>();
  private readonly handling = new Set<Promise<void>>();
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(options: TaskLoopOptions) {
    this.options = options;
    this.permits = new Permits(options.concurrency);
  }

  start(): void {
    this.running = this.loop();
  }

  /**
   * Stops taking tasks and lets the ones in hand finish for up to `graceMs`;
   * those still running then are handed back to JetStream at once (another
   * worker gets them without waiting for ack-wait) and their transfers cut:
   * a destination never commits a body cut short, so nothing half-written is
   * ever visible.
   */
  async stop(graceMs = 20_000): Promise<void> {
    this.stopped = true;
    await this.running;
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
    const finished = Promise.all([...this.handling]).then(() => 'done' as const);
    if ((await Promise.race([finished, graceOver])) === 'late') {
      for (const [msg, held] of this.held) {
        held.handedBack = true;
        msg.nak();
      }
      this.options.log.info('shutdown: tasks still running were handed back', { tasks: this.held.size });
    }
    clearTimeout(timer);
    this.agent.destroy();
    await finished;
  }

  private async loop(): Promise<void> {
    const { js, jobUid, log } = this.options;
    let consumer: Consumer | undefined;
    while (!this.stopped) {
      try {
        if (this.handling.size >= this.options.concurrency) {
          await Promise.race(this.handling);
          continue;
        }
        consumer ??= await js.consumers.get(streams.tasks, taskConsumerName(jobUid));
        const msg = await consumer.next({ expires: 2_000 });
        if (!msg) continue;
        if (this.stopped) {
          msg.nak(); // fetched as we stopped: straight back
          break;
        }
        const handling = this.handle(msg).finally(() => this.handling.delete(handling));
        this.handling.add(handling);
      } catch (err) {
        log.warn('task loop error; retrying', { error: String(err) });
        consumer = undefined;
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  private async report(message: TaskMessage, outcome: Outcome): Promise<void> {
    const status: StatusMessage = {
      jobUid: message.jobUid,
      taskId: message.task.id,
      epoch: message.epoch,
      attempt: message.attempt,
      worker: this.options.worker,
      ...outcome,
    };
    // Awaiting the PubAck: the status is stored before the task is acknowledged.
    await this.options.js.publish(statusSubject(message.jobUid), JSON.stringify(status));
  }

  private async handle(msg: JsMsg): Promise<void> {
    let message: TaskMessage;
    try {
      message = JSON.parse(msg.string()) as TaskMessage;
      if (message.jobUid !== this.options.jobUid || !message.task?.id)
        throw new Error('not a task of this job');
    } catch (err) {
      this.options.log.warn('discarding an invalid task message', { seq: msg.seq, error: String(err) });
      msg.term();
      return;
    }
    const log = withFields(this.options.log, {
      task: message.task.id,
      epoch: message.epoch,
      attempt: message.attempt,
    });
    const held: Held = { handedBack: false, progressAt: Date.now() };
    const keepAlive = setInterval(
      () => this.extendWhileMoving(msg, held),
      this.options.workingIntervalMs ?? 10_000,
    );
    let pause = false;
    this.held.set(msg, held);
    const metrics = this.options.metrics;
    metrics?.tasksInFlight.inc();
    const began = process.hrtime.bigint();
    try {
      await this.report(message, { state: 'RUNNING', taskSeq: msg.seq });
      const outcome = await this.run(message, held);
      // Handed back at shutdown: another worker reports this task.
      if (held.handedBack) return;
      await this.report(message, outcome);
      msg.ack();
      metrics?.taskDuration.observe(
        {
          kind: message.task.kind,
          outcome: outcome.state === 'SUCCEEDED' ? 'succeeded' : outcome.error!.kind,
        },
        Number(process.hrtime.bigint() - began) / 1e9,
      );
      log.info('task done', { state: outcome.state, objects: outcome.objectsDone, bytes: outcome.bytesDone });
    } catch (err) {
      if (held.handedBack) return;
      // Could not report (or no destination to send to): hand the task back so it is not lost.
      // Back off with each delivery: an outage of a few seconds (a destination
      // pod being replaced) must not use up the task's deliveries (max-deliver).
      const delayMs = backoffDelay(redeliveryBackoff, msg.info.deliveryCount);
      log.warn('task handed back', { error: String(err), retryInMs: delayMs });
      msg.nak(delayMs);
      pause = true;
    } finally {
      clearInterval(keepAlive);
      this.held.delete(msg);
      metrics?.tasksInFlight.dec();
    }
    // Keep this task's place in hand a moment, so an outage does not spin through the queue's deliveries.
    if (pause) await new Promise((r) => setTimeout(r, 1_000));
  }

  /**
   * Extends the task's ack deadline, but only when it moved within the idle
   * timeout: a stalled task is not kept from another worker forever (its
   * transfer is cut by then anyway, and the task reported as failed).
   */
  private extendWhileMoving(msg: JsMsg, held: Held): void {
    const idleMs = this.options.idleTimeoutMs ?? Infinity;
    if (Date.now() - held.progressAt <= idleMs) msg.working();
  }

  /**
   * Runs the task against a destination; when that destination refused the
   * connection (its pod is gone), again against another (waiting for one to
   * be announced), up to `destinationTries` in all, rather than handing the
   * task back to spin through its deliveries. What a refused attempt already
   * committed is simply written again: every write is whole and idempotent.
   */
  private async run(message: TaskMessage, held: Held): Promise<Outcome> {
    for (let tries = 1; ; tries++) {
      try {
        return await this.runOnce(message, held);
      } catch (err) {
        if (!(err instanceof DestinationRefused) || tries >= destinationTries || held.handedBack) throw err;
        this.options.log.info('destination refused; trying another', {
          task: message.task.id,
          error: err.message,
        });
      }
    }
  }

  private async runOnce(message: TaskMessage, held: Held): Promise<Outcome> {
    const moved = () => (held.progressAt = Date.now());
    const target: DestinationTarget = {
      baseUrl: await this.options.pickDestination(moved),
      token: this.options.token,
      agent: this.agent,
      onProgress: moved,
      ...(this.options.idleTimeoutMs ? { idleTimeoutMs: this.options.idleTimeoutMs } : {}),
    };
    const { task } = message;
    switch (task.kind) {
      case 'copy': {
        const outcome = await runCopyTask(task, this.options.source, target, {
          concurrency: this.options.concurrency,
          permits: this.permits,
          bandwidth: this.options.bandwidth,
        });
        return this.copied(target.baseUrl, outcome);
      }
      case 'delete': {
        const outcome = await runDeleteTask(task, target);
        for (const failure of outcome.failed) this.options.metrics?.failed(failure.kind, failure.code);
        return { state: outcome.state, objectsDone: outcome.objectsDone, bytesDone: 0, error: outcome.error };
      }
      case 'copyPart': {
        const outcome = await runCopyPartTask(task, this.options.source, target, {
          permits: this.permits,
          bandwidth: this.options.bandwidth,
        });
        return this.copied(target.baseUrl, outcome);
      }
    }
  }

  /** A copy's outcome as its status says it, counted; throws (to hand the task back) when `url` refused. */
  private copied(url: string, outcome: CopyOutcome): Outcome {
    const metrics = this.options.metrics;
    if (metrics) {
      metrics.objects.inc({ operation: 'copied' }, outcome.objectsDone);
      metrics.bytes.inc({ direction: 'sent' }, outcome.bytesDone);
      for (const failure of outcome.failed) metrics.failed(failure.kind, failure.code);
    }
    this.handBackIfRefused(url, outcome.failed);
    const { state, objectsDone, bytesDone, error } = outcome;
    return { state, objectsDone, bytesDone, error };
  }

  /**
   * A destination that refused the connection is gone (a killed pod whose
   * announcement lingers): the task is not at fault, so it is handed back for
   * another destination instead of failing and spending an attempt.
   */
  private handBackIfRefused(url: string, failed: { code: string; message: string }[]): void {
    if (!failed.some((f) => f.code === 'NetworkError' && /ECONNREFUSED/.test(f.message))) return;
    this.options.destinationRefused?.(url);
    throw new DestinationRefused(`destination ${url} refused the connection`);
  }
}
