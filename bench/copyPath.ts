// Profiling aid: the copy data path in one process (source store → source
// worker's copy task → destination worker's HTTP routes → destination store),
// between two versitygw servers, with the CPU it costs per byte and per object.
//   node bench/copyPath.ts [--objects=N] [--size=BYTES] [--concurrency=N] [--profile=FILE]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3Server } from '../test/bed/s3Server.ts';
import { silentLogger, type Logger } from '../common/logging.ts';
import { openObjectStore } from '../storage/index.ts';
import { runCopyTask } from '../worker/transfer/copyTask.ts';
import { createDestinationHandler } from '../worker/transfer/destinationEndpoint.ts';
import { benchArgs } from './harness/args.ts';

const args = benchArgs();
const count = Number(args.get('objects') ?? 8);
const size = Number(args.get('size') ?? 64 * 1024 * 1024);
const concurrency = Number(args.get('concurrency') ?? 4);

const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-copypath-'));
const [src, dst] = await Promise.all([S3Server.create(dir, 's3-source'), S3Server.create(dir, 's3-dest')]);
await Promise.all([src.start(), dst.start()]);
try {
  const admin = (s: S3Server) =>
    new S3Client({
      endpoint: s.endpoint,
      region: s.region,
      credentials: s.credentials,
      forcePathStyle: true,
    });
  const a = admin(src);
  await a.send(new CreateBucketCommand({ Bucket: 'source' }));
  await admin(dst).send(new CreateBucketCommand({ Bucket: 'dest' }));
  const data = Buffer.alloc(size, 7);
  for (let i = 0; i < count; i += 16)
    await Promise.all(
      Array.from({ length: Math.min(16, count - i) }, (_, j) =>
        a.send(new PutObjectCommand({ Bucket: 'source', Key: `o/${i + j}`, Body: data })),
      ),
    );
  const source = openObjectStore({ s3: { endpoint: src.endpoint, bucket: 'source' } }, src.credentials);
  const destination = openObjectStore({ s3: { endpoint: dst.endpoint, bucket: 'dest' } }, dst.credentials);
  const quiet: Logger = { ...silentLogger, warn: (m, x) => console.warn(m, x) };
  const handle = createDestinationHandler(destination, 't', quiet);
  const server = http.createServer((req, res) => void handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const target = {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token: 't',
    agent: new http.Agent({ keepAlive: true }),
  };
  const objects = Array.from({ length: count }, (_, i) => ({ key: `o/${i}`, size }));
  // --profile=FILE: a CPU profile of the copy alone (open it in Chrome's DevTools).
  const profile = args.get('profile');
  const session = new Session();
  if (profile) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const cpu = process.cpuUsage();
  const began = performance.now();
  const outcome = await runCopyTask({ kind: 'copy', id: 't', objects, bytes: count * size }, source, target, {
    concurrency,
  });
  const seconds = (performance.now() - began) / 1000;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  if (profile) {
    const { profile: taken } = await session.post('Profiler.stop');
    writeFileSync(profile, JSON.stringify(taken));
    session.disconnect();
  }
  if (outcome.state !== 'SUCCEEDED') throw new Error(JSON.stringify(outcome.error));
  const mib = (count * size) / 1024 / 1024;
  console.log(
    `${count} × ${size} B: ${seconds.toFixed(2)} s, ${(mib / seconds).toFixed(1)} MiB/s; ` +
      `this process ${cpuSeconds.toFixed(2)} CPU-s (${((cpuSeconds / mib) * 1000).toFixed(2)} ms per MiB, ` +
      `${((cpuSeconds / count) * 1e6).toFixed(0)} µs per object)`,
  );
  server.close();
  target.agent.destroy();
  await source.close();
  await destination.close();
} finally {
  await Promise.all([src.stop(), dst.stop()]);
  rmSync(dir, { recursive: true, force: true });
}
