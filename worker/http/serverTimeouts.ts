// The worker HTTP server's timeouts: idle, never total.
//
// Node's defaults cut any request after 300 s (`requestTimeout`), however
// steadily its body moves: a 64 MiB object under a 64 KiB/s bandwidth limit
// takes 17 minutes, so it was cut, retried and cut again until its task gave
// up. What a transfer must not do is stall, so the bound is on idleness: a
// connection with no byte moving either way for `idleTimeoutMs` is closed
// (the destination commits nothing of a body cut short), and one that keeps
// moving runs as long as it takes.
import type http from 'node:http';

export function applyTransferTimeouts(server: http.Server, idleTimeoutMs: number): void {
  // No limit on a request's total time (0 disables it).
  server.requestTimeout = 0;
  // A socket idle this long, mid-request, is destroyed (Node's default when no 'timeout' listener).
  server.timeout = idleTimeoutMs;
  // Headers are small: they come at once or the client is gone. Node requires headersTimeout ≤ requestTimeout
  // only when requestTimeout is set; keep it at the idle bound.
  server.headersTimeout = idleTimeoutMs;
}
