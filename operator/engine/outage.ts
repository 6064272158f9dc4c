// What a failed engine step says about the job's dependencies: a store, the
// ledger's etcd or NATS out of reach, or the ledger out of space. A
// recognised outage is a fact the job's status shows (the Degraded
// condition and an event, reconcile/outageConditions.ts) while the engine
// waits for it to end; it is not a resume (ADR 0030).
import { StorageError } from '../../storage/objectStore.ts';
import { isLedgerOutOfSpace, isLedgerUnreachable } from '../ledger/ledgerErrors.ts';
import { ListingError } from '../planner/workerListing.ts';

export const OutageReason = {
  StoreUnreachable: 'StoreUnreachable',
  LedgerUnreachable: 'LedgerUnreachable',
  LedgerOutOfSpace: 'LedgerOutOfSpace',
  NatsUnreachable: 'NatsUnreachable',
} as const;
export type OutageReason = (typeof OutageReason)[keyof typeof OutageReason];

export interface Outage {
  reason: OutageReason;
  /** Names what is out of reach and the error. */
  message: string;
  /** When the engine first failed on it (RFC 3339). */
  since: string;
}

/** NATS client errors that mean the server is not there (not a refusal of the request itself). */
const natsUnreachable = new Set([
  'ConnectionError',
  'ClosedConnectionError',
  'DrainingConnectionError',
  'NoRespondersError',
  'TimeoutError',
  'RequestError',
]);

/** What to do on the ledger's NOSPACE alarm, in the condition a person reads. */
export const ledgerOutOfSpaceAdvice =
  'compact and defragment the ledger etcd, then `etcdctl alarm disarm` (or raise --quota-backend-bytes); the job goes on by itself (docs/operations.md, "The ledger is out of space")';

/** The outage `err` shows, if it is one; undefined for any other error. */
export function outageOf(err: unknown): Omit<Outage, 'since'> | undefined {
  const text = err instanceof Error ? err.message : String(err);
  if (isLedgerOutOfSpace(err))
    return {
      reason: OutageReason.LedgerOutOfSpace,
      message: `ledger etcd is out of space (${text}): ${ledgerOutOfSpaceAdvice}`,
    };
  if ((err instanceof StorageError || err instanceof ListingError) && err.kind !== 'permanent')
    return { reason: OutageReason.StoreUnreachable, message: `store unreachable: ${text}` };
  if (isLedgerUnreachable(err))
    return { reason: OutageReason.LedgerUnreachable, message: `ledger etcd unreachable: ${text}` };
  const name = (err as { name?: unknown } | undefined)?.name;
  if (typeof name === 'string' && natsUnreachable.has(name))
    return { reason: OutageReason.NatsUnreachable, message: `NATS unreachable: ${text}` };
  return undefined;
}
