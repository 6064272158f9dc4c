// The HTTP endpoint operator and worker pods serve to the kubelet and to
// Prometheus: /healthz (liveness), /readyz (readiness) and /metrics.
import http from 'node:http';
import type { Registry } from 'prom-client';

export interface ProbeServer {
  port: number;
  /** The server itself, for a caller that sets its timeouts (worker/http/serverTimeouts.ts). */
  server: http.Server;
  close(): Promise<void>;
}

export async function startProbeServer(
  host: string,
  port: number,
  registry: Registry,
  isReady: () => boolean,
  /** More routes on the same port (a destination worker's object endpoint); returns true when it handled the request. */
  routes?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean,
): Promise<ProbeServer> {
  const server = http.createServer((req, res) => {
    if (routes?.(req, res)) return;
    const send = (status: number, body: string, type = 'text/plain') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    switch (req.url) {
      case '/healthz':
        return send(200, 'ok');
      case '/readyz':
        return isReady() ? send(200, 'ok') : send(503, 'not ready');
      case '/metrics':
        registry.metrics().then(
          (text) => send(200, text, registry.contentType),
          (err: unknown) => send(500, String(err)),
        );
        return;
      default:
        return send(404, 'not found');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    server,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
