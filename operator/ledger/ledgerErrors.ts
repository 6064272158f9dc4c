// What an etcd error means for the ledger's caller. Two cases matter to a
// running job: etcd unreachable (a restart, a network fault: wait, it comes
// back), and etcd out of space (the NOSPACE alarm: every write is refused
// until a person compacts, defragments and disarms the alarm — retrying fast
// only adds load; docs/operations.md has the steps).
import {
  ClientRuntimeError,
  GRPCCancelledError,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
} from 'etcd3';

/** etcd's words for its quota alarm: "etcdserver: mvcc: database space exceeded" (alarm NOSPACE). */
const outOfSpace = /database space exceeded|NOSPACE/i;

/**
 * The ledger's etcd refuses writes because its database reached
 * --quota-backend-bytes. Told by the message: etcd reports other refusals
 * (a request over its size limit) with the same gRPC code.
 */
export function isLedgerOutOfSpace(err: unknown): boolean {
  return err instanceof Error && outOfSpace.test(err.message);
}

/** The ledger's etcd did not answer: down, restarting, or out of reach. */
export function isLedgerUnreachable(err: unknown): boolean {
  return (
    err instanceof GRPCUnavailableError ||
    err instanceof GRPCDeadlineExceededError ||
    err instanceof GRPCCancelledError ||
    err instanceof ClientRuntimeError
  );
}
