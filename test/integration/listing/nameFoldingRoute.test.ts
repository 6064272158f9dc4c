// The operator asking a destination worker whether its volume folds names
// (ADR 0035): the worker's real listing route and probe server, the bed's NATS
// for discovery, a real directory as the volume.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { announceListing } from '../../../api/announcements.ts';
import { silentLogger } from '../../../common/logging.ts';
import { startProbeServer } from '../../../common/probes.ts';
import { WorkerListing } from '../../../operator/planner/workerListing.ts';
import { FilesystemStore } from '../../../storage/index.ts';
import { createListingRoute } from '../../../worker/listing/listingEndpoint.ts';
import { bedEndpoints } from '../../support/bed.ts';

const token = 'job-token';
const volume = mkdtempSync(path.join(os.tmpdir(), 'ferry-folding-it-'));

describe("a destination worker's name folding probe", () => {
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await connect({ servers: bedEndpoints().natsUrl });
  });
  afterAll(async () => {
    await nc.drain();
    rmSync(volume, { recursive: true, force: true });
  });

  it('answers for the volume of a store root that does not exist yet, and leaves nothing behind', async () => {
    const store = new FilesystemStore({ claimName: 'dst', mountPath: volume, path: '/not/yet' });
    const route = createListingRoute(store, token, silentLogger, { nameFoldingDirectory: store.root });
    const server = await startProbeServer('127.0.0.1', 0, new Registry(), () => true, route.handle);
    const jobUid = `folding-${Date.now()}`;
    const url = `http://127.0.0.1:${server.port}`;
    const withdraw = await announceListing(nc, jobUid, 'destination', `pod-${server.port}`, url);
    try {
      const listing = new WorkerListing({
        nats: async () => nc,
        jobUid,
        role: 'destination',
        token,
        description: 'filesystem store dst:/not/yet',
        discoveryIntervalMs: 100,
      });
      // This machine's tmp keeps names byte-exact (ext4, overlay or tmpfs).
      expect(await listing.nameFolding()).toEqual({ foldsCase: false, foldsNormalisation: false });
      expect(readdirSync(volume)).toEqual([]);
      const unauthorised = await fetch(`${url}/v1/name-folding`);
      expect(unauthorised.status).toBe(401);
    } finally {
      await withdraw().catch(() => {});
      await server.close();
      await route.close();
    }
  });
});
