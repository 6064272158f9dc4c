// An HTTP relay in front of a real S3 server that drops the continuation
// tokens (and part-number markers) from its listing pages: the real server never sends a truncated page
// without one, and Ferry must fail on such a page rather than end the listing.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export /** Forwards every request to `target` unchanged (Host too, so SigV4 holds) and drops listing tokens. */
async function tokenDroppingRelay(target: URL): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const relayed = Buffer.from(
            text.replace(
              /<(NextContinuationToken|NextPartNumberMarker)>[^<]*<\/(NextContinuationToken|NextPartNumberMarker)>/g,
              '',
            ),
          );
          res.writeHead(answer.statusCode ?? 502, { ...answer.headers, 'content-length': relayed.length });
          res.end(relayed);
        });
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
