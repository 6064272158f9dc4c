// The pieces the transfer tests share: real stores (a bucket on the bed's S3,
// a temporary directory), and a destination worker's routes on a real HTTP
// server, whose commit log lines the tests can read.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { bedEndpoints } from '../../../support/bed.ts';
import { FilesystemStore, openObjectStore, type ObjectStore } from '../../../../storage/index.ts';
import type { DestinationTarget } from '../../../../worker/transfer/destinationClient.ts';
import { silentLogger, type Logger } from '../../../../common/logging.ts';
import { createDestinationHandler } from '../../../../worker/transfer/destinationEndpoint.ts';
import { committedMessage } from '../../../../worker/transfer/receiving.ts';
import type { UploadRegistry } from '../../../../worker/transfer/uploadRegistry.ts';

export const MiB = 1024 * 1024;
export const token = 'the-job-token';
let counter = 0;

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function chunked(data: Buffer, size = 64 * 1024): Readable {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += size)
    chunks.push(data.subarray(offset, offset + size));
  return Readable.from(chunks, { objectMode: false });
}

export async function readSha256(store: ObjectStore, key: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await store.read(key)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function s3Store(): Promise<ObjectStore> {
  const { endpoint, region, credentials } = bedEndpoints().s3;
  const bucket = `ferry-transfer-${Date.now()}-${++counter}`;
  const admin = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
  try {
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    admin.destroy();
  }
  return openObjectStore({ s3: { endpoint, region, bucket, forcePathStyle: true } }, credentials);
}

export interface Warning {
  message: string;
  meta?: Record<string, unknown>;
}

export interface Destination {
  target: DestinationTarget;
  warnings: Warning[];
  /** Keys of the objects the endpoint logged as committed. */
  committed: string[];
  close(): Promise<void>;
}

export async function startDestination(store: ObjectStore, uploads?: UploadRegistry): Promise<Destination> {
  const warnings: Warning[] = [];
  const committed: string[] = [];
  const log: Logger = {
    ...silentLogger,
    debug: (message, meta) => {
      if (message === committedMessage) committed.push(String(meta?.key));
    },
    warn: (message, meta) => warnings.push({ message, meta }),
  };
  const handle = createDestinationHandler(store, token, log, uploads);
  const server = http.createServer((req, res) => {
    if (!handle(req, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const agent = new http.Agent({ keepAlive: true });
  return {
    target: { baseUrl: `http://127.0.0.1:${port}`, token, agent },
    warnings,
    committed,
    close: async () => {
      agent.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export interface Pair {
  source: ObjectStore;
  destination: ObjectStore;
  cleanup(): Promise<void>;
}

export async function fsStore(): Promise<{ store: ObjectStore; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-transfer-'));
  return {
    store: new FilesystemStore({ claimName: 'test', mountPath: dir }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export const setups: [string, () => Promise<Pair>][] = [
  [
    'filesystem → S3',
    async () => {
      const fs = await fsStore();
      const s3 = await s3Store();
      return {
        source: fs.store,
        destination: s3,
        cleanup: async () => {
          await s3.close();
          await fs.cleanup();
        },
      };
    },
  ],
  [
    'S3 → filesystem',
    async () => {
      const fs = await fsStore();
      const s3 = await s3Store();
      return {
        source: s3,
        destination: fs.store,
        cleanup: async () => {
          await s3.close();
          await fs.cleanup();
        },
      };
    },
  ],
];
