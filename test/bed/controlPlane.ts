// The local control plane: the real upstream servers Ferry runs against,
// started as local processes on loopback (there is no container runtime).
//
//   kube etcd ──▶ kube-apiserver        (the Kubernetes API: CRDs, pods, leases)
//   ledger etcd                          (Ferry's task ledger)
//   nats-server -js                      (task and status streams)
//   versitygw (S3)                       (source and destination object stores)
//
// Used by the jest global setup, the bed CLI and the Makefile's demo target.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createControlPlanePki, kubeconfigFor } from './certificates.ts';
import { EtcdServer } from './etcd.ts';
import { KubeApiServer } from './kubeApiserver.ts';
import { NatsServer } from './natsServer.ts';
import { S3Server, type S3Credentials } from './s3Server.ts';

/** How to reach the bed: what a test, the operator or a worker is given. */
export interface BedEndpoints {
  dir: string;
  kubeconfig: string;
  apiServerUrl: string;
  natsUrl: string;
  ledgerEtcdUrl: string;
  s3: { endpoint: string; region: string; credentials: S3Credentials };
}

export interface StartOptions {
  /** Where data, logs and certificates go; a fresh temporary directory by default. */
  dir?: string;
  /** Keep the directory after stop (for reading the servers' logs). */
  keepDir?: boolean;
  /** Progress lines, e.g. console.log. */
  log?: (line: string) => void;
}

interface Parts {
  dir: string;
  kubeEtcd: EtcdServer;
  ledgerEtcd: EtcdServer;
  apiServer: KubeApiServer;
  nats: NatsServer;
  s3: S3Server;
  kubeconfigPath: string;
  keepDir: boolean;
}

export class LocalControlPlane {
  readonly dir: string;
  readonly kubeEtcd: EtcdServer;
  readonly ledgerEtcd: EtcdServer;
  readonly apiServer: KubeApiServer;
  readonly nats: NatsServer;
  readonly s3: S3Server;
  readonly kubeconfigPath: string;
  private readonly keepDir: boolean;

  private constructor(parts: Parts) {
    this.dir = parts.dir;
    this.kubeEtcd = parts.kubeEtcd;
    this.ledgerEtcd = parts.ledgerEtcd;
    this.apiServer = parts.apiServer;
    this.nats = parts.nats;
    this.s3 = parts.s3;
    this.kubeconfigPath = parts.kubeconfigPath;
    this.keepDir = parts.keepDir;
  }

  static async start(options: StartOptions = {}): Promise<LocalControlPlane> {
    const log = options.log ?? (() => {});
    const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'ferry-bed-'));
    mkdirSync(path.join(dir, 'pki'), { recursive: true });
    mkdirSync(path.join(dir, 'pids'), { recursive: true });
    if (options.keepDir) writeFileSync(path.join(dir, 'keep'), '');
    startWatchdog(dir);

    const servers: { stop(): Promise<void> }[] = [];
    try {
      const pki = await createControlPlanePki(path.join(dir, 'pki'));
      const kubeEtcd = await EtcdServer.create(dir, 'kube-etcd');
      const ledgerEtcd = await EtcdServer.create(dir, 'ledger-etcd');
      const nats = await NatsServer.create(dir);
      const s3 = await S3Server.create(dir);
      const startOne = async (server: { name: string; start(): Promise<void>; stop(): Promise<void> }) => {
        const began = Date.now();
        servers.push(server);
        await server.start();
        log(`bed: ${server.name} ready in ${Date.now() - began} ms`);
      };
      await Promise.all([startOne(kubeEtcd), startOne(ledgerEtcd), startOne(nats), startOne(s3)]);
      const apiServer = await KubeApiServer.create(dir, kubeEtcd.clientUrl, pki);
      await startOne(apiServer);

      const kubeconfigPath = path.join(dir, 'kubeconfig');
      writeFileSync(kubeconfigPath, await kubeconfigFor(pki, apiServer.url), { mode: 0o600 });
      const plane = new LocalControlPlane({
        dir,
        kubeEtcd,
        ledgerEtcd,
        apiServer,
        nats,
        s3,
        kubeconfigPath,
        keepDir: !!options.keepDir,
      });
      writeFileSync(path.join(dir, 'bed.json'), JSON.stringify(plane.endpoints(), null, 2));
      return plane;
    } catch (err) {
      await Promise.allSettled(servers.map((s) => s.stop()));
      rmSync(path.join(dir, 'pids'), { recursive: true, force: true });
      throw err;
    }
  }

  endpoints(): BedEndpoints {
    return {
      dir: this.dir,
      kubeconfig: this.kubeconfigPath,
      apiServerUrl: this.apiServer.url,
      natsUrl: this.nats.url,
      ledgerEtcdUrl: this.ledgerEtcd.clientUrl,
      s3: { endpoint: this.s3.endpoint, region: this.s3.region, credentials: this.s3.credentials },
    };
  }

  /** Stops every server; the API server first, so nothing writes to a dead etcd. */
  async stop(): Promise<void> {
    await this.apiServer.stop();
    await Promise.all([this.kubeEtcd.stop(), this.ledgerEtcd.stop(), this.nats.stop(), this.s3.stop()]);
    // Removing pids/ tells the watchdog the teardown was clean.
    rmSync(path.join(this.dir, 'pids'), { recursive: true, force: true });
    if (!this.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

function startWatchdog(dir: string): void {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'watchdog.ts');
  const child = spawn(process.execPath, [script, String(process.pid), dir], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
}
