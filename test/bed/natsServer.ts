// nats-server with JetStream and file storage on loopback; optionally with TLS
// and a user/password (a test of a NATS that requires both), configured through
// a config file, as such a server usually is.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, httpGet } from './network.ts';
import { BedServer } from './server.ts';
import { toolPath } from './tools.ts';

export interface NatsServerOptions {
  /**
   * Serve TLS only, with this certificate and key (PEM files); the URL is then
   * tls://. With a CA, clients must also present a certificate it signed.
   */
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
  /** Accept only clients that present this user and password. */
  auth?: { user: string; password: string };
  /** Names the server's directory under the bed directory (several servers in one bed). */
  name?: string;
  /** The address clients connect to: loopback, or the cluster tier's bridge address, where pods reach it. */
  host?: string;
}

export class NatsServer extends BedServer {
  readonly url: string;
  /** The HTTP monitoring endpoint (/varz, /jsz, /healthz). */
  readonly monitorUrl: string;

  private constructor(bedDir: string, port: number, monitorPort: number, options: NatsServerOptions) {
    const dir = path.join(bedDir, options.name ?? 'nats');
    const storeDir = path.join(dir, 'jetstream');
    mkdirSync(storeDir, { recursive: true });
    // JSON is a valid nats-server configuration file.
    const host = options.host ?? '127.0.0.1';
    const config = {
      listen: `${host}:${port}`,
      http: `127.0.0.1:${monitorPort}`,
      server_name: options.name ?? 'ferry-bed',
      jetstream: { store_dir: storeDir },
      ...(options.tls
        ? {
            tls: {
              cert_file: options.tls.certFile,
              key_file: options.tls.keyFile,
              ...(options.tls.clientCaFile ? { ca_file: options.tls.clientCaFile, verify: true } : {}),
            },
          }
        : {}),
      ...(options.auth
        ? { authorization: { user: options.auth.user, password: options.auth.password } }
        : {}),
    };
    const configFile = path.join(dir, 'nats-server.conf');
    writeFileSync(configFile, JSON.stringify(config, null, 2));
    super(
      bedDir,
      { name: options.name ?? 'nats-server', command: toolPath('nats-server'), args: ['-c', configFile] },
      20_000,
    );
    this.url = `${options.tls ? 'tls' : 'nats'}://${host}:${port}`;
    this.monitorUrl = `http://127.0.0.1:${monitorPort}`;
  }

  static async create(bedDir: string, options: NatsServerOptions = {}): Promise<NatsServer> {
    return new NatsServer(bedDir, await freePort(), await freePort(), options);
  }

  protected async isReady(): Promise<boolean> {
    const { status } = await httpGet(`${this.monitorUrl}/healthz?js-enabled-only=true`);
    return status === 200;
  }
}
