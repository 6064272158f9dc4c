// Ledger and message economy, measured rather than estimated: counters read
// from the ledger etcd and the nats-server before and after a job, so their
// difference is what the job cost.
//
//   etcd      the store revision (every committed write transaction bumps it
//             once), and etcd's own mvcc counters of put / delete / txn
//             operations (its /metrics)
//   JetStream each stream's last sequence (one per message ever stored; the
//             streams are work queues, so their message count alone would
//             miss the acknowledged ones)
//   NATS      the server's total messages in (/varz): every publish, ack,
//             pull request and reply, the broadest count
import { Etcd3 } from 'etcd3';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { httpGet } from '../../test/bed/network.ts';

export interface EconomySnapshot {
  etcdRevision: number;
  etcdPuts: number;
  etcdDeletes: number;
  etcdTxns: number;
  /** Last sequence of each JetStream stream. */
  streams: Record<string, number>;
  natsInMsgs: number;
}

export interface EconomyEndpoints {
  ledgerEtcdUrl: string;
  natsUrl: string;
  natsMonitorUrl: string;
}

function metric(text: string, name: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

export async function economySnapshot(at: EconomyEndpoints): Promise<EconomySnapshot> {
  const etcd = new Etcd3({ hosts: at.ledgerEtcdUrl });
  const nc = await connect({ servers: at.natsUrl });
  try {
    // Any read carries the store's current revision in its header.
    const { header } = await etcd.get('/ferry-bench/revision-probe').exec();
    const metrics = (await httpGet(`${at.ledgerEtcdUrl}/metrics`)).body;
    const streams: Record<string, number> = {};
    const jsm = await jetstreamManager(nc);
    for await (const s of jsm.streams.list()) streams[s.config.name] = s.state.last_seq;
    const varz = JSON.parse((await httpGet(`${at.natsMonitorUrl}/varz`)).body) as { in_msgs: number };
    return {
      etcdRevision: Number(header.revision),
      etcdPuts: metric(metrics, 'etcd_mvcc_put_total'),
      etcdDeletes: metric(metrics, 'etcd_mvcc_delete_total'),
      etcdTxns: metric(metrics, 'etcd_mvcc_txn_total'),
      streams,
      natsInMsgs: varz.in_msgs,
    };
  } finally {
    etcd.close();
    await nc.close();
  }
}

export interface EconomyReport {
  objects: number;
  etcdRevisions: number;
  etcdPuts: number;
  etcdDeletes: number;
  etcdTxns: number;
  streamMessages: Record<string, number>;
  jetStreamMessages: number;
  natsInMsgs: number;
}

export function economyBetween(
  before: EconomySnapshot,
  after: EconomySnapshot,
  objects: number,
): EconomyReport {
  const streamMessages: Record<string, number> = {};
  for (const [name, last] of Object.entries(after.streams)) {
    const delta = last - (before.streams[name] ?? 0);
    if (delta > 0) streamMessages[name] = delta;
  }
  return {
    objects,
    etcdRevisions: after.etcdRevision - before.etcdRevision,
    etcdPuts: after.etcdPuts - before.etcdPuts,
    etcdDeletes: after.etcdDeletes - before.etcdDeletes,
    etcdTxns: after.etcdTxns - before.etcdTxns,
    streamMessages,
    jetStreamMessages: Object.values(streamMessages).reduce((a, b) => a + b, 0),
    // Includes the snapshot's own few JetStream API requests: a small, fixed overcount.
    natsInMsgs: after.natsInMsgs - before.natsInMsgs,
  };
}
