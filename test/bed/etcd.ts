// An etcd member on loopback. The bed runs two: one behind kube-apiserver and
// one for Ferry's task ledger, so a test can restart the ledger's etcd without
// taking the API server down with it.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { freePort, httpGet } from './network.ts';
import { BedServer } from './server.ts';
import { toolPath } from './tools.ts';

export class EtcdServer extends BedServer {
  readonly clientUrl: string;

  private constructor(
    bedDir: string,
    name: string,
    clientPort: number,
    peerPort: number,
    extraArgs: readonly string[],
  ) {
    const dataDir = path.join(bedDir, name);
    mkdirSync(dataDir, { recursive: true });
    const clientUrl = `http://127.0.0.1:${clientPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    super(
      bedDir,
      {
        name,
        command: toolPath('etcd'),
        args: [
          `--name=${name}`,
          `--data-dir=${dataDir}`,
          `--listen-client-urls=${clientUrl}`,
          `--advertise-client-urls=${clientUrl}`,
          `--listen-peer-urls=${peerUrl}`,
          `--initial-advertise-peer-urls=${peerUrl}`,
          `--initial-cluster=${name}=${peerUrl}`,
          '--log-level=warn',
          // The bed's machine does not crash under the tests, only processes do;
          // skipping fsync keeps a test run fast without changing what survives a SIGKILL.
          '--unsafe-no-fsync',
          ...extraArgs,
        ],
      },
      30_000,
    );
    this.clientUrl = clientUrl;
  }

  /** `extraArgs`: more flags, e.g. a small `--quota-backend-bytes` for a test of a full etcd. */
  static async create(bedDir: string, name: string, extraArgs: readonly string[] = []): Promise<EtcdServer> {
    return new EtcdServer(bedDir, name, await freePort(), await freePort(), extraArgs);
  }

  protected async isReady(): Promise<boolean> {
    const { status, body } = await httpGet(`${this.clientUrl}/health`);
    return status === 200 && JSON.parse(body).health === 'true';
  }
}
