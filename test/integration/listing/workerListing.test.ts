// The operator listing a filesystem store through a worker's listing route:
// real HTTP servers (the worker's probe server with its routes), the bed's
// NATS for discovery, a real directory tree as the volume.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { silentLogger } from '../../../common/logging.ts';
import { startProbeServer, type ProbeServer } from '../../../common/probes.ts';
import { WorkerListing } from '../../../operator/planner/workerListing.ts';
import { announceListing } from '../../../api/announcements.ts';
import { createListingRoute, type ListingRoute } from '../../../worker/listing/listingEndpoint.ts';
import { FilesystemStore } from '../../../storage/index.ts';
import type { ObjectInfo } from '../../../storage/objectStore.ts';
import { bedEndpoints } from '../../support/bed.ts';

const token = 'job-token';
const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-listing-it-'));
let nc: NatsConnection;
let jobs = 0;

interface Worker {
  url: string;
  route: ListingRoute;
  server: ProbeServer;
  withdraw: () => Promise<void>;
  stop(): Promise<void>;
}

/** A worker's HTTP server with the listing route, announced for `jobUid`; `sabotage` may cut a response. */
async function startWorker(
  jobUid: string,
  store: FilesystemStore,
  options: { requiredDirectory?: string; sabotage?: (request: number, res: ServerResponse) => boolean } = {},
): Promise<Worker> {
  const route = createListingRoute(store, token, silentLogger, {
    requiredDirectory: options.requiredDirectory,
  });
  let requests = 0;
  const server = await startProbeServer(
    '127.0.0.1',
    0,
    new Registry(),
    () => true,
    (req, res) => {
      if (options.sabotage?.(++requests, res)) return true;
      return route.handle(req, res);
    },
  );
  const url = `http://127.0.0.1:${server.port}`;
  const withdraw = await announceListing(nc, jobUid, 'source', `pod-${server.port}`, url);
  return {
    url,
    route,
    server,
    withdraw,
    async stop() {
      await withdraw().catch(() => {});
      await server.close();
      await route.close();
    },
  };
}

function listing(jobUid: string, extra: Partial<ConstructorParameters<typeof WorkerListing>[0]> = {}) {
  return new WorkerListing({
    nats: async () => nc,
    jobUid,
    role: 'source',
    token,
    description: 'filesystem store data:/',
    discoveryIntervalMs: 100,
    retryDelayMs: 50,
    pageSize: 100,
    ...extra,
  });
}

async function collect(objects: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of objects) out.push(o);
  return out;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A volume with `count` files spread over nested directories, names chosen to test byte order. */
function volume(name: string, count: number): { root: string; files: Map<string, Buffer> } {
  const root = path.join(dir, name);
  const files = new Map<string, Buffer>();
  const names = ['a', 'a b', 'a+b', 'a%20b', 'é', 'Z', 'a-b', 'ü/x'];
  for (let i = 0; i < count; i++) {
    const key = `${names[i % names.length]}/${String(i % 7)}/${i}.bin`;
    const body = Buffer.from(`object ${i} `.repeat(i % 5));
    mkdirSync(path.dirname(path.join(root, key)), { recursive: true });
    writeFileSync(path.join(root, key), body);
    files.set(key, body);
  }
  return { root, files };
}

beforeAll(async () => {
  nc = await connect({ servers: bedEndpoints().natsUrl });
});

afterAll(async () => {
  await nc?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('listing a filesystem store through its worker', () => {
  it('pages through every object in UTF-8 byte order with each content’s SHA-256, as the store lists them', async () => {
    const jobUid = `list-${++jobs}-${Date.now()}`;
    const { root, files } = volume('all', 1234);
    const store = new FilesystemStore({ claimName: 'data', mountPath: root });
    const worker = await startWorker(jobUid, store);
    try {
      const listed = await collect(listing(jobUid).list('', undefined, { checksums: true }));
      const direct = await collect(store.list(''));
      expect(listed.map((o) => o.key)).toEqual(direct.map((o) => o.key));
      expect(listed).toHaveLength(files.size);
      for (const object of listed) {
        expect(object.size).toBe(files.get(object.key)!.length);
        expect(object.checksum).toEqual({ algorithm: 'SHA256', value: sha(files.get(object.key)!) });
      }
      const keys = listed.map((o) => Buffer.from(o.key));
      for (let i = 1; i < keys.length; i++) expect(Buffer.compare(keys[i - 1]!, keys[i]!)).toBe(-1);
      // Under a prefix, after a key: as the store's own list.
      const some = await collect(listing(jobUid).list('a', 'a b/3/1000.bin'));
      expect(some.map((o) => o.key)).toEqual(
        (await collect(store.list('a', 'a b/3/1000.bin'))).map((o) => o.key),
      );
    } finally {
      await worker.stop();
    }
  });

  it('hashes on request only the objects asked for, leaving out those that do not exist', async () => {
    const jobUid = `list-${++jobs}-${Date.now()}`;
    const { root, files } = volume('on-request', 30);
    const store = new FilesystemStore({ claimName: 'data', mountPath: root });
    const worker = await startWorker(jobUid, store);
    try {
      const lister = listing(jobUid);
      const listed = await collect(lister.list(''));
      expect(listed.every((o) => o.checksum === undefined)).toBe(true); // none asked for: none read
      const wanted = [...listed.slice(0, 3), { ...listed[3]!, key: 'no/such/object' }];
      const sums = await lister.checksumsOf(wanted);
      expect([...sums.keys()]).toEqual(listed.slice(0, 3).map((o) => o.key));
      for (const [key, object] of sums) expect(object.checksum?.value).toBe(sha(files.get(key)!));
    } finally {
      await worker.stop();
    }
  });

  it('waits for a worker of the side to be announced, and stops waiting when told to', async () => {
    const jobUid = `list-${++jobs}-${Date.now()}`;
    const { root, files } = volume('late', 10);
    const store = new FilesystemStore({ claimName: 'data', mountPath: root });
    let worker: Worker | undefined;
    const started = setTimeout(() => {
      void startWorker(jobUid, store).then((w) => (worker = w));
    }, 1_500);
    try {
      const listed = await collect(listing(jobUid).list(''));
      expect(listed).toHaveLength(files.size);
    } finally {
      clearTimeout(started);
      await worker?.stop();
    }

    const stop = new AbortController();
    setTimeout(() => stop.abort(), 300);
    await expect(collect(listing(`nobody-${jobUid}`, { signal: stop.signal }).list(''))).rejects.toThrow(
      /listing stopped/,
    );
  });

  it('never ends a listing whose worker is lost midway: it waits for another worker, which finishes it', async () => {
    const jobUid = `list-${++jobs}-${Date.now()}`;
    const { root, files } = volume('midway', 450);
    const store = new FilesystemStore({ claimName: 'data', mountPath: root });
    // The first worker answers two pages, then dies mid-answer (its connections cut).
    const dying = await startWorker(jobUid, store, {
      sabotage: (n, res) => {
        if (n <= 2) return false;
        res.socket?.destroy();
        return true;
      },
    });
    const seen: string[] = [];
    let seenWhenHealthyStarted = -1;
    let healthy: Worker | undefined;
    const later = setTimeout(() => {
      seenWhenHealthyStarted = seen.length;
      void startWorker(jobUid, store).then((w) => (healthy = w));
    }, 1_500);
    try {
      // Few attempts: being unreachable must not use them up (the new worker comes long after).
      for await (const o of listing(jobUid, { maxAttempts: 2 }).list('')) seen.push(o.key);
    } finally {
      clearTimeout(later);
      await dying.stop();
      await healthy?.stop();
    }
    expect(seenWhenHealthyStarted).toBe(200); // two pages, then waiting: no pretence of an end
    expect(seen).toEqual((await collect(store.list(''))).map((o) => o.key));
    expect(seen).toHaveLength(files.size);
  });

  it('gives up on a page after a few retryable error answers, with an error and never an end', async () => {
    const jobUid = `list-${++jobs}-${Date.now()}`;
    const { root } = volume('unwell', 250);
    const store = new FilesystemStore({ claimName: 'data', mountPath: root });
    let answers = 0;
    const unwell = await startWorker(jobUid, store, {
      sabotage: (n, res) => {
        if (n <= 1) return false;
        answers++;
        const body = JSON.stringify({
          error: { kind: 'retryable', code: 'EIO', message: 'I/O error (EIO)' },
        });
        res.writeHead(503, { 'content-type': 'application/json' }).end(body);
        return true;
      },
    });
    const seen: string[] = [];
    try {
      const listed = (async () => {
        for await (const o of listing(jobUid, { maxAttempts: 3 }).list('')) seen.push(o.key);
      })();
      await expect(listed).rejects.toMatchObject({
        kind: 'retryable',
        message: expect.stringMatching(/EIO: I\/O error .*gave up after 3 attempts/),
      });
    } finally {
      await unwell.stop();
    }
    expect(seen).toHaveLength(100);
    expect(answers).toBe(3);
  });

  it('refuses a page out of UTF-8 byte order, or an empty page that is not the last', async () => {
    const jobUid = `list-${++jobs}-${Date.now()}`;
    const store = new FilesystemStore({ claimName: 'data', mountPath: dir });
    const object = (key: string) => ({ key, size: 1, lastModified: new Date().toISOString() });
    let page: unknown;
    const lying = await startWorker(jobUid, store, {
      sabotage: (_n, res) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(page));
        return true;
      },
    });
    try {
      page = { objects: [object('b'), object('a')], complete: true };
      await expect(collect(listing(jobUid).list(''))).rejects.toMatchObject({
        kind: 'permanent',
        message: expect.stringContaining('invalid listing page: "a" is not after "b"'),
      });
      page = { objects: [], complete: false };
      await expect(collect(listing(jobUid).list(''))).rejects.toMatchObject({
        kind: 'permanent',
        message: expect.stringContaining('an empty page that is not the last'),
      });
    } finally {
      await lying.stop();
    }
  });

  it('fails at once, naming the problem, for a source path missing from the volume or a wrong token', async () => {
    const jobUid = `list-${++jobs}-${Date.now()}`;
    const mount = path.join(dir, 'mount');
    mkdirSync(mount, { recursive: true });
    const store = new FilesystemStore({ claimName: 'data', path: '/no/such/dir', mountPath: mount });
    const worker = await startWorker(jobUid, store, { requiredDirectory: store.root });
    try {
      const missing = collect(listing(jobUid).list(''));
      await expect(missing).rejects.toMatchObject({
        kind: 'permanent',
        message: expect.stringMatching(/NoSuchPath: .*the source path does not exist on the volume/),
      });
      await expect(collect(listing(jobUid, { token: 'wrong' }).list(''))).rejects.toMatchObject({
        kind: 'permanent',
        message: expect.stringContaining('Unauthorized'),
      });
    } finally {
      await worker.stop();
    }
  });
});
