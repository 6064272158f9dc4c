import type { Condition } from '../../../../api/v1alpha1/index.ts';
import type { Outage } from '../../../../operator/engine/outage.ts';
import { outageEnded, outagePolicy } from '../../../../operator/reconcile/outageConditions.ts';
import { applied, condition, statuses } from './fixtures.ts';

const storeDown: Outage = {
  reason: 'StoreUnreachable',
  message: 'store unreachable: s3 http://s3:9000/in: list: network error (ECONNREFUSED)',
  since: '2026-11-24T11:59:00Z',
};
const ledgerFull: Outage = {
  reason: 'LedgerOutOfSpace',
  message: 'ledger etcd is out of space',
  since: '2026-11-24T12:00:00Z',
};

describe('the Degraded condition and its events', () => {
  const degradedBy = (reason: string): Condition[] => [condition('Degraded', 'True', reason)];
  const cases: Record<string, { outage?: Outage; from?: Condition[]; want: string[]; events: string[] }> = {
    'a job that never had an outage has no Degraded condition': { want: [], events: [] },
    'an outage starting: Degraded=True and one Warning event': {
      outage: storeDown,
      want: ['Degraded=True/StoreUnreachable'],
      events: ['Warning/StoreUnreachable'],
    },
    'the same outage going on: no further event': {
      outage: storeDown,
      from: degradedBy('StoreUnreachable'),
      want: ['Degraded=True/StoreUnreachable'],
      events: [],
    },
    'another outage: an event for it': {
      outage: ledgerFull,
      from: degradedBy('StoreUnreachable'),
      want: ['Degraded=True/LedgerOutOfSpace'],
      events: ['Warning/LedgerOutOfSpace'],
    },
    'the outage over: Degraded=False and one Normal event': {
      from: degradedBy('StoreUnreachable'),
      want: ['Degraded=False/Reachable'],
      events: ['Normal/Recovered'],
    },
    'long over: nothing more': {
      from: [condition('Degraded', 'False', 'Reachable')],
      want: ['Degraded=False/Reachable'],
      events: [],
    },
  };
  it.each(Object.entries(cases))('%s', (_, { outage, from = [], want, events }) => {
    const outcome = outagePolicy(outage, from);
    expect(statuses(applied(outcome.conditions, from))).toEqual(want);
    expect((outcome.events ?? []).map((e) => `${e.type}/${e.reason}`)).toEqual(events);
  });

  it('names the store and the error, and says the job waits', () => {
    const [update] = outagePolicy(storeDown, []).conditions!;
    expect(update!.message).toContain('s3 http://s3:9000/in');
    expect(update!.message).toContain('ECONNREFUSED');
    expect(update!.message).toContain('goes on when it is back');
  });

  it('clears Degraded on a job that stopped during an outage', () => {
    expect(statuses(applied(outageEnded(degradedBy('NatsUnreachable')).conditions))).toEqual([
      'Degraded=False/Reachable',
    ]);
    expect(outageEnded([]).conditions).toBeUndefined();
  });
});
