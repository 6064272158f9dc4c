// The floor of a Node relay: the CPU one Node process spends passing bytes
// from an HTTP GET to an HTTP PUT and doing nothing else — no hashing, no
// signing, no storage. Each Ferry copy crosses two such relays (the source
// worker and the destination worker) where rclone has one Go process, so this
// bounds how close the relay design can come to rclone on a machine whose
// cores the copy saturates (see bench/README.md).
//
//   node bench/relayFloor.ts [--size=BYTES] [--runs=N] [--hash]
//
// The serving and receiving ends run in a child process, so the figure is the
// relay's alone. --hash adds one SHA-256 pass, as a source worker does.
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { benchArgs } from './harness/args.ts';

const args = benchArgs();
const size = Number(args.get('size') ?? 1024 ** 3);
const runs = Number(args.get('runs') ?? 3);
const chunk = Buffer.alloc(64 * 1024, 7);

if (args.has('serve')) {
  // The child: a server that answers any GET with `size` bytes, and one that swallows PUTs.
  const source = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': size });
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const n = Math.min(chunk.length, size - sent);
        sent += n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n)))
          return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const sink = http.createServer((req, res) => {
    let received = 0;
    req.on('data', (c: Buffer) => (received += c.length));
    req.on('end', () => res.end(String(received)));
  });
  const listen = (s: http.Server) =>
    new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
  const ports = { source: await listen(source), sink: await listen(sink) };
  process.send!(ports);
} else {
  const child: ChildProcess = fork(process.argv[1]!, ['--serve', `--size=${size}`]);
  const ports = await new Promise<{ source: number; sink: number }>((r) =>
    child.once('message', (m) => r(m as never)),
  );
  const agent = new http.Agent({ keepAlive: true });
  const hash = args.has('hash');
  const relay = () =>
    new Promise<void>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: ports.source, agent }, (res) => {
          const digest = hash ? createHash('sha256') : undefined;
          if (digest) res.on('data', (c: Buffer) => digest.update(c));
          const put = http.request(
            {
              host: '127.0.0.1',
              port: ports.sink,
              method: 'PUT',
              agent,
              headers: { 'content-length': size },
            },
            (answer) => {
              answer.resume();
              answer.on('end', resolve);
            },
          );
          put.on('error', reject);
          res.pipe(put);
        })
        .on('error', reject);
    });
  const gib = size / 1024 ** 3;
  for (let run = 1; run <= runs; run++) {
    const cpu = process.cpuUsage();
    const began = performance.now();
    await relay();
    const used = process.cpuUsage(cpu);
    const seconds = (performance.now() - began) / 1000;
    console.log(
      `relay run ${run}${hash ? ' (with SHA-256)' : ''}: ${seconds.toFixed(2)} s, ` +
        `${((used.user + used.system) / 1e6 / gib).toFixed(2)} CPU-s per GiB ` +
        `(user ${(used.user / 1e6 / gib).toFixed(2)}, system ${(used.system / 1e6 / gib).toFixed(2)})`,
    );
  }
  agent.destroy();
  child.kill();
}
