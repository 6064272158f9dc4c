// Loopback ports and HTTP readiness probes for the bed's servers.
import { createServer } from 'node:net';
import http from 'node:http';
import https from 'node:https';

/** A port on 127.0.0.1 that was free a moment ago (the kernel picked it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the allocated port'));
      });
    });
  });
}

export interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
}

/** GETs a URL and resolves with the status code and body (small responses only). */
export async function httpGet(url: string, tls: TlsMaterial = {}): Promise<{ status: number; body: string }> {
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.get(url, { ...tls, timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}
