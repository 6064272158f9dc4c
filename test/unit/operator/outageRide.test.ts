import { GRPCUnavailableError } from 'etcd3';
import { silentLogger } from '../../../common/logging.ts';
import { outageOf } from '../../../operator/engine/outage.ts';
import { OutageRide } from '../../../operator/engine/outageRide.ts';
import { LostStreamError } from '../../../operator/dispatch/deliveryWatch.ts';
import { StorageError } from '../../../storage/objectStore.ts';

const storeError = new StorageError('network error (ECONNREFUSED)', {
  kind: 'retryable',
  store: 's3 http://127.0.0.1:1/in',
  operation: 'list',
});
const noSpace = new Error('etcdserver: mvcc: database space exceeded');

describe('what a failed engine step says about the outage', () => {
  const cases: Record<string, { err: unknown; reason: string | undefined }> = {
    'a store that refuses connections': { err: storeError, reason: 'StoreUnreachable' },
    'a permanent store error is no outage': {
      err: new StorageError('access denied', { kind: 'permanent', store: 's', operation: 'list' }),
      reason: undefined,
    },
    'etcd unavailable': {
      err: new GRPCUnavailableError('14 UNAVAILABLE: No connection established'),
      reason: 'LedgerUnreachable',
    },
    'etcd out of space (NOSPACE)': { err: noSpace, reason: 'LedgerOutOfSpace' },
    'nats-server gone': {
      err: Object.assign(new Error('closed'), { name: 'ConnectionError' }),
      reason: 'NatsUnreachable',
    },
    'anything else': { err: new Error('boom'), reason: undefined },
  };
  it.each(Object.entries(cases))('%s', (_, { err, reason }) => {
    expect(outageOf(err)?.reason).toBe(reason);
  });

  it('tells what to do when the ledger is out of space', () => {
    expect(outageOf(noSpace)?.message).toMatch(/compact.*defragment.*alarm disarm/);
  });
});

describe('riding an outage', () => {
  const fast = { pauseMs: 1, maxPauseMs: 4, outOfSpacePauseMs: 2, limitMs: 20 };

  it('tells the job once per outage, and again when it is over', async () => {
    const seen: (string | undefined)[] = [];
    const ride = new OutageRide(silentLogger, (o) => seen.push(o?.reason), fast);
    for (let i = 0; i < 5; i++) await ride.failed(storeError);
    expect(seen).toEqual(['StoreUnreachable']);
    ride.ok();
    expect(seen).toEqual(['StoreUnreachable', undefined]);
  });

  it('waits out a recognised outage past the limit, but not an unknown error', async () => {
    const ride = new OutageRide(silentLogger, () => {}, fast);
    const until = Date.now() + 40;
    while (Date.now() < until) await ride.failed(noSpace);
    const other = new OutageRide(silentLogger, () => {}, fast);
    const boom = new Error('boom');
    await expect(
      (async () => {
        for (;;) await other.failed(boom);
      })(),
    ).rejects.toBe(boom);
  });

  it('gives up at once on a lost stream: a resume re-creates it', async () => {
    const lost = new LostStreamError('gone');
    await expect(new OutageRide(silentLogger, () => {}, fast).failed(lost)).rejects.toBe(lost);
  });
});
