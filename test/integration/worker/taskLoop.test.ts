// A source worker's task loop against the bed's NATS and S3 and a real
// destination endpoint: what its metrics say after a copy, how the bandwidth
// limit paces it, and what a shutdown does to a task still running (handed
// back at once, nothing half-written visible, no failure reported).
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { Registry } from 'prom-client';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { streams } from '../../../api/names.ts';
import {
  statusConsumerName,
  taskConsumerName,
  tasksSubject,
  type PlannedTask,
  type StatusMessage,
  type TaskMessage,
} from '../../../api/tasks.ts';
import { createLogger } from '../../../common/logging.ts';
import { ensureJobConsumers, ensureStreams } from '../../../operator/dispatch/streams.ts';
import { WorkerMetrics } from '../../../worker/metrics.ts';
import type { ObjectStore } from '../../../storage/objectStore.ts';
import { SourceTaskLoop } from '../../../worker/taskLoop.ts';
import { BandwidthLimiter } from '../../../worker/transfer/copyTask.ts';
import { createDestinationHandler } from '../../../worker/transfer/destinationEndpoint.ts';
import { UploadRegistry } from '../../../worker/transfer/uploadRegistry.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { waitFor } from '../../support/wait.ts';
import { MiB, s3Store, sha256, chunked } from './transfer/harness.ts';

const log = createLogger('task-loop-test', 'error');
const token = 'loop-token';

interface Rig {
  uid: string;
  source: ObjectStore;
  destination: ObjectStore;
  sourceMetrics: WorkerMetrics;
  destinationMetrics: WorkerMetrics;
  registries: Registry[];
  loop(options?: { bandwidth?: BandwidthLimiter }): SourceTaskLoop;
  send(task: PlannedTask): Promise<void>;
  statuses(): Promise<StatusMessage[]>;
  close(): Promise<void>;
}

/** A metric's value summed over the label sets matching `labels` (histograms: `<name>_count` etc.). */
async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}) {
  type Value = { value: number; labels: Record<string, string | number>; metricName?: string };
  let sum = 0;
  for (const metric of await registry.getMetricsAsJSON()) {
    if (!name.startsWith(metric.name)) continue;
    for (const v of metric.values as Value[])
      if (
        (v.metricName ?? metric.name) === name &&
        Object.entries(labels).every(([k, l]) => v.labels[k] === l)
      )
        sum += v.value;
  }
  return sum;
}

describe('a source worker task loop', () => {
  let nc: NatsConnection;
  let js: JetStreamClient;

  beforeAll(async () => {
    nc = await connect({ servers: bedEndpoints().natsUrl });
    js = jetstream(nc);
    await ensureStreams(await jetstreamManager(nc));
  });
  afterAll(async () => {
    await nc?.close();
  });

  async function rig(): Promise<Rig> {
    const uid = randomUUID();
    const jsm = await jetstreamManager(nc);
    await ensureJobConsumers(jsm, uid);
    const source = await s3Store();
    const destination = await s3Store();
    const registries = [new Registry(), new Registry()];
    const sourceMetrics = new WorkerMetrics(registries[0]!);
    const destinationMetrics = new WorkerMetrics(registries[1]!);
    const handler = createDestinationHandler(
      destination,
      token,
      log,
      await UploadRegistry.open(nc, uid),
      destinationMetrics,
    );
    const server = http.createServer((req, res) => {
      if (!handler(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const loops: SourceTaskLoop[] = [];
    return {
      uid,
      source,
      destination,
      sourceMetrics,
      destinationMetrics,
      registries,
      loop: (options = {}) => {
        const loop = new SourceTaskLoop({
          js,
          jobUid: uid,
          worker: `source-${loops.length}`,
          source,
          pickDestination: async () => url,
          token,
          concurrency: 4,
          log,
          metrics: sourceMetrics,
          ...options,
        });
        loops.push(loop);
        loop.start();
        return loop;
      },
      send: async (task) => {
        const message: TaskMessage = { jobUid: uid, epoch: 1, attempt: 1, task };
        await js.publish(tasksSubject(uid), JSON.stringify(message));
      },
      statuses: async () => {
        const consumer = await js.consumers.get(streams.status, statusConsumerName(uid));
        const out: StatusMessage[] = [];
        for (;;) {
          const msg = await consumer.next({ expires: 1_000 });
          if (!msg) return out;
          out.push(JSON.parse(msg.string()) as StatusMessage);
          msg.ack();
        }
      },
      close: async () => {
        for (const loop of loops) await loop.stop(0);
        server.closeAllConnections();
        server.close();
        await source.close();
        await destination.close();
      },
    };
  }

  async function put(store: ObjectStore, key: string, data: Buffer) {
    await store.write(key, chunked(data), { size: data.length });
    return { key, size: data.length, sha256: sha256(data) };
  }

  it('counts what it moved: objects and bytes on both sides, task durations, nothing in flight after', async () => {
    const r = await rig();
    try {
      const objects = [
        await put(r.source, 'a', randomBytes(1000)),
        await put(r.source, 'b', randomBytes(5000)),
      ];
      const large = await put(r.source, 'large', randomBytes(11 * MiB));
      r.loop();
      await r.send({ kind: 'copy', id: 't1', objects, bytes: 6000 });
      for (let part = 1; part <= 3; part++)
        await r.send({
          kind: 'copyPart',
          id: `p${part}`,
          object: large,
          partNumber: part,
          partCount: 3,
          start: (part - 1) * 5 * MiB,
          end: Math.min(part * 5 * MiB, large.size) - 1,
        });
      await waitFor('the copies', async () => (await r.destination.stat('large')) !== undefined, 30_000);
      await waitFor(
        'four tasks timed',
        async () => (await metricValue(r.registries[0]!, 'ferry_worker_task_duration_seconds_count')) === 4,
        10_000,
      );
      const [src, dst] = r.registries;
      expect(await metricValue(src!, 'ferry_worker_objects_total', { operation: 'copied' })).toBe(3);
      expect(await metricValue(src!, 'ferry_worker_bytes_total', { direction: 'sent' })).toBe(
        6000 + large.size,
      );
      expect(await metricValue(dst!, 'ferry_worker_objects_total', { operation: 'committed' })).toBe(3);
      expect(await metricValue(dst!, 'ferry_worker_bytes_total', { direction: 'received' })).toBe(
        6000 + large.size,
      );
      expect(
        await metricValue(src!, 'ferry_worker_task_duration_seconds_count', {
          kind: 'copyPart',
          outcome: 'succeeded',
        }),
      ).toBe(3);
      expect(await metricValue(src!, 'ferry_worker_tasks_in_flight')).toBe(0);
      expect(await metricValue(src!, 'ferry_worker_errors_total')).toBe(0);
    } finally {
      await r.close();
    }
  });

  it('counts a failed object by class and code', async () => {
    const r = await rig();
    try {
      r.loop();
      await r.send({ kind: 'copy', id: 'gone', objects: [{ key: 'missing', size: 5 }], bytes: 5 });
      await waitFor(
        'the failure to be counted',
        async () => (await metricValue(r.registries[0]!, 'ferry_worker_errors_total')) === 1,
        10_000,
      );
      expect(
        await metricValue(r.registries[0]!, 'ferry_worker_errors_total', {
          kind: 'permanent',
          code: 'NoSuchKey',
        }),
      ).toBe(1);
    } finally {
      await r.close();
    }
  });

  it('paces its transfers to its bandwidth share', async () => {
    const r = await rig();
    try {
      const object = await put(r.source, 'paced', randomBytes(3 * MiB));
      const began = Date.now();
      r.loop({ bandwidth: new BandwidthLimiter(MiB) });
      await r.send({ kind: 'copy', id: 'paced', objects: [object], bytes: object.size });
      await waitFor('the paced copy', async () => (await r.destination.stat('paced')) !== undefined, 30_000);
      // 3 MiB at 1 MiB/s with a one-second burst: at least two seconds.
      expect(Date.now() - began).toBeGreaterThanOrEqual(1_900);
    } finally {
      await r.close();
    }
  });

  it('hands a running task back at shutdown: another worker gets it at once, nothing half-written shows', async () => {
    const r = await rig();
    try {
      const object = await put(r.source, 'slow', randomBytes(8 * MiB));
      // 512 KiB/s: the copy would take some 15 s.
      const first = r.loop({ bandwidth: new BandwidthLimiter(512 * 1024) });
      await r.send({ kind: 'copy', id: 'slow', objects: [object], bytes: object.size });
      await waitFor(
        'the task to be running',
        async () => (await metricValue(r.registries[0]!, 'ferry_worker_tasks_in_flight')) === 1,
        10_000,
      );
      const stopping = Date.now();
      await first.stop(300);
      expect(Date.now() - stopping).toBeLessThan(5_000);
      expect(await r.destination.stat('slow')).toBeUndefined();
      const info = await (await jetstreamManager(nc)).consumers.info(streams.tasks, taskConsumerName(r.uid));
      expect(info.num_ack_pending + info.num_pending).toBe(1); // handed back, not acked

      // A second worker (unthrottled) takes it well before any ack-wait.
      r.loop();
      await waitFor(
        'the copy by the second worker',
        async () => (await r.destination.stat('slow')) !== undefined,
        20_000,
      );
      const statuses = await r.statuses();
      // The first worker reported only RUNNING: no failure for a task it handed back.
      expect(statuses.filter((s) => s.worker === 'source-0').map((s) => s.state)).toEqual(['RUNNING']);
      expect(statuses.filter((s) => s.worker === 'source-1').map((s) => s.state)).toEqual([
        'RUNNING',
        'SUCCEEDED',
      ]);
    } finally {
      await r.close();
    }
  });
});
