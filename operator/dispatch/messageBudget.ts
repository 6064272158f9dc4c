// How large a message the NATS server takes (its max_payload, 1 MiB by
// default), and what Ferry does when JetStream's store for a stream is full.
//
// A task message over max_payload is refused by the server whatever the
// retries, so the planner sizes tasks to a budget far below it
// (taskPlanner.ts maxTaskMessageBytes) and the dispatcher checks each message
// against the connected server's own figure before publishing. A stream at
// its byte limit refuses new messages ("maximum bytes exceeded"): that is the
// workers' backlog, not a fault, so the publish waits and tries again —
// planning waits with it — instead of failing the job (back-pressure).
import type { JetStreamClient } from '@nats-io/jetstream';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay } from '../../common/backoff.ts';
import type { Logger } from '../../common/logging.ts';

/** nats-server's default max_payload, assumed when the connection does not say. */
export const defaultMaxPayload = 1024 * 1024;

/** The connected server's max_payload (the client reads it from the server's INFO). */
export function maxPayloadOf(js: JetStreamClient): number {
  const nc = (js as { nc?: { info?: { max_payload?: number } } }).nc;
  return nc?.info?.max_payload ?? defaultMaxPayload;
}

/** A message the server would refuse for its size: it is never published. */
export class MessageTooLargeError extends Error {}

/** Throws MessageTooLargeError, naming `what`, when `bytes` pass the server's max_payload. */
export function checkPayload(js: JetStreamClient, bytes: number, what: string): void {
  const max = maxPayloadOf(js);
  if (bytes > max)
    throw new MessageTooLargeError(
      `${what} is ${bytes} bytes, more than the NATS server's max_payload of ${max} bytes`,
    );
}

/** JetStream refused a publish because the stream (or the server's store) is full. */
export function isStreamFull(err: unknown): boolean {
  return /maximum (bytes|messages) exceeded|insufficient resources|storage .*exceeded/i.test(String(err));
}

/** Waits between publishes to a full stream: from 250 ms to 5 s. */
const fullStreamBackoff = { initialMs: 250, maxMs: 5_000 };

/** Publishes with `publish`, waiting while the stream is full; logs each wait (the job stays Running). */
export async function publishWithBackPressure<T>(
  publish: () => Promise<T>,
  what: string,
  log?: Logger,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await publish();
    } catch (err) {
      if (!isStreamFull(err) || signal?.aborted) throw err;
      const waitMs = backoffDelay(fullStreamBackoff, attempt);
      log?.warn('stream full: waiting for the workers to take messages before publishing', {
        what,
        attempt,
        waitMs,
        error: String(err),
      });
      await sleep(waitMs);
    }
  }
}
