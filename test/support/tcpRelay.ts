// A TCP relay in front of a server that a test can take away and bring back
// on the same port: while it is down, connections are refused (ECONNREFUSED)
// and the open ones are cut, as when the server behind it went away.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export class TcpRelay {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly target: { host: string; port: number };
  port = 0;

  private constructor(target: { host: string; port: number }) {
    this.target = target;
  }

  /** A relay to `target` (host:port of a URL), listening on a free loopback port. */
  static async start(target: URL): Promise<TcpRelay> {
    const relay = new TcpRelay({ host: target.hostname, port: Number(target.port) });
    await relay.up();
    return relay;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens (again, on the same port once it had one). */
  async up(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Refuses new connections and cuts the open ones. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
