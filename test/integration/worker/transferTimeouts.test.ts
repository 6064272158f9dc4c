// Transfers between workers are bounded by idleness, never by their total
// time: a destination that stops reading mid-body fails the transfer as
// retryable within the idle timeout, while a slow body that keeps moving —
// a large object under a bandwidth limit — runs as long as it takes. Real
// sockets: the source's client (destinationClient.ts) against an HTTP server
// with the worker's timeouts (http/serverTimeouts.ts).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { applyTransferTimeouts } from '../../../worker/http/serverTimeouts.ts';
import { sendObject, type DestinationTarget } from '../../../worker/transfer/destinationClient.ts';
import { TransferError } from '../../../worker/transfer/protocol.ts';

const idleTimeoutMs = 1_000;

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A body of `chunks` chunks of `chunkBytes`, one every `everyMs`: slow, but never idle for long. */
function slowBody(chunks: number, chunkBytes: number, everyMs: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent === chunks) return void this.push(null);
      sent++;
      setTimeout(() => this.push(Buffer.alloc(chunkBytes, 7)), everyMs);
    },
  });
}

describe('transfer timeouts between workers', () => {
  const agent = new http.Agent({ keepAlive: true });
  const target = (baseUrl: string, onProgress?: () => void): DestinationTarget => ({
    baseUrl,
    token: 't',
    agent,
    idleTimeoutMs,
    ...(onProgress ? { onProgress } : {}),
  });
  afterAll(() => agent.destroy());

  it('a destination that stops reading mid-body fails the transfer as retryable within the idle timeout', async () => {
    // Reads nothing and answers nothing: the body fills the socket buffers and stops.
    const { server, url } = await listen((req) => req.pause());
    try {
      const size = 64 * 1024 * 1024;
      const body = Readable.from(
        (function* () {
          for (let i = 0; i < size / 65536; i++) yield Buffer.alloc(65536, 1);
        })(),
      );
      const began = Date.now();
      const sent = sendObject(target(url), 'stalled.bin', body, size);
      await expect(sent).rejects.toBeInstanceOf(TransferError);
      const err = (await sent.catch((e: unknown) => e)) as TransferError;
      const tookMs = Date.now() - began;
      expect(err.kind).toBe('retryable');
      expect(err.code).toBe('IdleTimeout');
      // The idle timeout, plus the time the buffers took to fill; nowhere near Node's 300 s.
      expect(tookMs).toBeLessThan(idleTimeoutMs + 5_000);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('the worker server sets no total request timeout, and a slow body longer than the idle timeout completes', async () => {
    let received = 0;
    const { server, url } = await listen((req, res) => {
      req.on('data', (chunk: Buffer) => (received += chunk.length));
      req.on('end', () => {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ sha256: 'x', size: received }));
      });
    });
    applyTransferTimeouts(server, idleTimeoutMs);
    expect(server.requestTimeout).toBe(0);
    try {
      let progress = 0;
      // 3.2 s in all, a chunk every 200 ms: over three idle timeouts long, never idle for one.
      const began = Date.now();
      const result = await sendObject(
        target(url, () => progress++),
        'slow.bin',
        slowBody(16, 1024, 200),
        16 * 1024,
      );
      expect(Date.now() - began).toBeGreaterThan(3 * idleTimeoutMs);
      expect(result.size).toBe(16 * 1024);
      // Each chunk told the task it is alive (its ack deadline is extended only then).
      expect(progress).toBeGreaterThanOrEqual(16);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('the worker server cuts a request whose body stops moving', async () => {
    const { server, url } = await listen((req, res) => {
      req.resume();
      req.on('end', () => res.end());
    });
    applyTransferTimeouts(server, idleTimeoutMs);
    try {
      const closed = new Promise<number>((resolve) => {
        const began = Date.now();
        const req = http.request(`${url}/x`, { method: 'PUT', headers: { 'content-length': 1_000_000 } });
        req.on('error', () => resolve(Date.now() - began));
        req.on('close', () => resolve(Date.now() - began));
        req.write(Buffer.alloc(1000)); // then nothing more
      });
      expect(await closed).toBeLessThan(idleTimeoutMs + 3_000);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
