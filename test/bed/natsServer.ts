// nats-server with JetStream and file storage on loopback.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { freePort, httpGet } from './network.ts';
import { BedServer } from './server.ts';
import { toolPath } from './tools.ts';

export class NatsServer extends BedServer {
  readonly url: string;
  /** The HTTP monitoring endpoint (/varz, /jsz, /healthz). */
  readonly monitorUrl: string;

  private constructor(bedDir: string, port: number, monitorPort: number) {
    const storeDir = path.join(bedDir, 'nats');
    mkdirSync(storeDir, { recursive: true });
    super(
      bedDir,
      {
        name: 'nats-server',
        command: toolPath('nats-server'),
        args: [
          '-a',
          '127.0.0.1',
          '-p',
          String(port),
          '-m',
          String(monitorPort),
          '-js',
          '-sd',
          storeDir,
          '-n',
          'ferry-bed',
        ],
      },
      20_000,
    );
    this.url = `nats://127.0.0.1:${port}`;
    this.monitorUrl = `http://127.0.0.1:${monitorPort}`;
  }

  static async create(bedDir: string): Promise<NatsServer> {
    return new NatsServer(bedDir, await freePort(), await freePort());
  }

  protected async isReady(): Promise<boolean> {
    const { status } = await httpGet(`${this.monitorUrl}/healthz?js-enabled-only=true`);
    return status === 200;
  }
}
