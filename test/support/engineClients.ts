// Connections to the bed's NATS and ledger etcd, with Ferry's streams in
// place: what the task-engine integration tests share.
import { Etcd3 } from 'etcd3';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { ensureStreams } from '../../operator/dispatch/streams.ts';
import { bedEndpoints } from './bed.ts';

export interface EngineClients {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  etcd: Etcd3;
  close(): Promise<void>;
}

export async function connectEngineClients(): Promise<EngineClients> {
  const nc = await connect({ servers: bedEndpoints().natsUrl });
  const jsm = await jetstreamManager(nc);
  const etcd = new Etcd3({ hosts: bedEndpoints().ledgerEtcdUrl });
  await ensureStreams(jsm);
  return {
    nc,
    js: jetstream(nc),
    jsm,
    etcd,
    close: async () => {
      etcd.close();
      await nc.close();
    },
  };
}
