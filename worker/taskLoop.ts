// A source worker's task loop: pull a task of the job from JetStream, report
// RUNNING, carry it out against a destination worker, report the outcome, and
// only then acknowledge the task. A worker that dies mid-task never acks it, so
// JetStream hands it to another worker after ack-wait; while a long task runs,
// `working()` keeps extending that deadline.
import http from 'node:http';
import type { Consumer, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'winston';
import { streams } from '../api/names.ts';
import { statusSubject, taskConsumerName, type StatusMessage, type TaskMessage } from '../api/tasks.ts';
import type { ObjectStore } from './storage/objectStore.ts';
import { runCopyPartTask } from './transfer/copyPartTask.ts';
import { runCopyTask } from './transfer/copyTask.ts';
import { deleteObject, type DestinationTarget } from './transfer/destinationClient.ts';
import { TransferError } from './transfer/protocol.ts';

export interface TaskLoopOptions {
  js: JetStreamClient;
  jobUid: string;
  worker: string;
  source: ObjectStore;
  /** A destination worker's base URL (see endpoints.ts). */
  pickDestination: () => Promise<string>;
  token: string;
  /** Objects copied at once within a task. */
  concurrency: number;
  log: Logger;
  /** How often a running task tells JetStream it is still being worked on. */
  workingIntervalMs?: number;
}

type Outcome = Pick<StatusMessage, 'state' | 'objectsDone' | 'bytesDone' | 'error'>;

export class SourceTaskLoop {
  private readonly options: TaskLoopOptions;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(options: TaskLoopOptions) {
    this.options = options;
  }

  start(): void {
    this.running = this.loop();
  }

  /** Finishes the task in hand, then stops taking new ones. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    this.agent.destroy();
  }

  private async loop(): Promise<void> {
    const { js, jobUid, log } = this.options;
    let consumer: Consumer | undefined;
    while (!this.stopped) {
      try {
        consumer ??= await js.consumers.get(streams.tasks, taskConsumerName(jobUid));
        const msg = await consumer.next({ expires: 2_000 });
        if (msg) await this.handle(msg);
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
    const log = this.options.log.child({
      task: message.task.id,
      epoch: message.epoch,
      attempt: message.attempt,
    });
    const keepAlive = setInterval(() => msg.working(), this.options.workingIntervalMs ?? 10_000);
    try {
      await this.report(message, { state: 'RUNNING' });
      const outcome = await this.run(message);
      await this.report(message, outcome);
      msg.ack();
      log.info('task done', { state: outcome.state, objects: outcome.objectsDone, bytes: outcome.bytesDone });
    } catch (err) {
      // Could not report: hand the task back so it is not lost.
      log.warn('task handed back', { error: String(err) });
      msg.nak(1_000);
    } finally {
      clearInterval(keepAlive);
    }
  }

  private async run(message: TaskMessage): Promise<Outcome> {
    const target: DestinationTarget = {
      baseUrl: await this.options.pickDestination(),
      token: this.options.token,
      agent: this.agent,
    };
    const { task } = message;
    switch (task.kind) {
      case 'copy': {
        const outcome = await runCopyTask(task, this.options.source, target, {
          concurrency: this.options.concurrency,
        });
        return {
          state: outcome.state,
          objectsDone: outcome.objectsDone,
          bytesDone: outcome.bytesDone,
          error: outcome.error,
        };
      }
      case 'delete': {
        for (const key of task.keys) {
          try {
            await deleteObject(target, key);
          } catch (err) {
            const kind = err instanceof TransferError ? err.kind : 'retryable';
            return {
              state: 'FAILED',
              error: {
                kind,
                message: `delete of ${JSON.stringify(key)} failed: ${String(err)}`,
                keys: [key],
              },
            };
          }
        }
        return { state: 'SUCCEEDED', objectsDone: task.keys.length, bytesDone: 0 };
      }
      case 'copyPart': {
        const outcome = await runCopyPartTask(task, this.options.source, target, {});
        return {
          state: outcome.state,
          objectsDone: outcome.objectsDone,
          bytesDone: outcome.bytesDone,
          error: outcome.error,
        };
      }
    }
  }
}
