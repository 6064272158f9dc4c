// What serviceNetwork.test.ts runs on, without a kubelet: the pod bridge and
// the guard, etcd and the cluster tier's kube-apiserver (on the node address,
// with the cluster's Service range), the Node registered as the kubelet would
// register it, kube-proxy and CoreDNS, and two stand-in pods (podNamespace.ts).
// The cluster watchdog reaps it if the test process dies.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { kubeconfigFor } from '../bed/certificates.ts';
import { EtcdServer } from '../bed/etcd.ts';
import { KubeApiServer } from '../bed/kubeApiserver.ts';
import { hostAddress, nodeIp, serviceCidr } from './clusterNetwork.ts';
import { createClusterPki, writeComponentKubeconfig, type ClusterPki } from './clusterPki.ts';
import type { CoreDns } from './coreDns.ts';
import type { KubeProxy } from './kubeProxy.ts';
import { createPodBridge, deletePodBridge } from './podBridge.ts';
import { PodNamespace, type PodHttpServer } from './podNamespace.ts';
import { PodNetworkGuard, serviceNetworkServers } from './serviceNetwork.ts';

const nodeName = 'ferry-node';
export const bridgeWaitMs = 240_000;

export interface Stoppable {
  name: string;
  stop(): Promise<void>;
}

export class ServiceNetworkTestBed {
  readonly dir: string;
  readonly guard = new PodNetworkGuard();
  /** Milliseconds each part took to become ready, by name. */
  readonly startTimes: Record<string, number> = {};
  /** Milliseconds each part took to stop (and remove what it made), by name. */
  readonly stopTimes: Record<string, number> = {};
  pki!: ClusterPki;
  apiServer!: KubeApiServer;
  adminKubeconfig!: string;
  kubeProxy!: KubeProxy;
  coreDns!: CoreDns;
  client!: PodNamespace;
  server!: PodNamespace;
  httpServer!: PodHttpServer;
  /** Everything to undo, in the order it was done. */
  private readonly undo: Stoppable[] = [];

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async start(): Promise<ServiceNetworkTestBed> {
    // One tier per machine: wait for another (e.g. a test file of the same jest run) to finish.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-svcnet-'));
    await createPodBridge({ pid: process.pid, dir }, bridgeWaitMs);
    const bed = new ServiceNetworkTestBed(dir);
    bed.undo.push({ name: 'bridge', stop: deletePodBridge });
    try {
      await bed.startParts();
      return bed;
    } catch (err) {
      await bed.stop().catch(() => {});
      throw err;
    }
  }

  private async startParts(): Promise<void> {
    mkdirSync(path.join(this.dir, 'pids'), { recursive: true });
    mkdirSync(path.join(this.dir, 'pki'), { recursive: true });
    startWatchdog(this.dir);
    await this.timed('pod-network guard', () => this.guard.install(), {
      name: 'guard',
      stop: () => this.guard.remove(),
    });
    this.pki = await createClusterPki(path.join(this.dir, 'pki'), nodeName);
    const etcd = await EtcdServer.create(this.dir, 'kube-etcd');
    await this.timed(etcd.name, () => etcd.start(), etcd);
    this.apiServer = await KubeApiServer.create(this.dir, etcd.clientUrl, this.pki, {
      address: hostAddress,
      serviceClusterIpRange: serviceCidr,
    });
    await this.timed(this.apiServer.name, () => this.apiServer.start(), this.apiServer);
    this.adminKubeconfig = path.join(this.dir, 'kubeconfig');
    writeFileSync(this.adminKubeconfig, await kubeconfigFor(this.pki, this.apiServer.url), { mode: 0o600 });
    await registerNode(this.kubeConfig());
    [this.kubeProxy, this.coreDns] = await serviceNetworkServers({
      bedDir: this.dir,
      pki: this.pki,
      apiServerUrl: this.apiServer.url,
      adminKubeconfig: this.adminKubeconfig,
      kubeProxyKubeconfig: await writeComponentKubeconfig(
        this.pki,
        this.apiServer.url,
        'kube-proxy',
        this.pki.kubeProxy,
      ),
      nodeName,
    });
    await Promise.all([
      this.timed(this.kubeProxy.name, () => this.kubeProxy.start(), this.kubeProxy),
      this.timed(this.coreDns.name, () => this.coreDns.start(), this.coreDns),
    ]);
    await this.startPods();
  }

  private async startPods(): Promise<void> {
    this.client = await PodNamespace.create('client', 'default', 2);
    this.undo.push({ name: this.client.name, stop: () => this.client.remove() });
    this.server = await PodNamespace.create('server', 'default', 3);
    this.undo.push({ name: this.server.name, stop: () => this.server.remove() });
    this.httpServer = this.server.httpServer(this.dir, 8080, 'hello from the server pod');
    await this.timed(this.httpServer.name, () => this.httpServer.start(), this.httpServer);
  }

  private async timed(name: string, start: () => Promise<void>, undo: Stoppable): Promise<void> {
    const began = Date.now();
    this.undo.push(undo);
    await start();
    this.startTimes[name] = Date.now() - began;
  }

  kubeConfig(): k8s.KubeConfig {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(this.adminKubeconfig);
    return kc;
  }

  /** Undoes everything in reverse order; each step runs even if an earlier one failed. */
  async stop(): Promise<void> {
    const failures: string[] = [];
    for (const part of this.undo.splice(0).reverse()) {
      const began = Date.now();
      await part.stop().catch((err: Error) => failures.push(`${part.name}: ${err.message}`));
      this.stopTimes[part.name] = Date.now() - began;
    }
    // Removing pids/ tells the watchdog the teardown was clean.
    rmSync(this.dir, { recursive: true, force: true });
    if (failures.length > 0) throw new Error(`service network teardown: ${failures.join('; ')}`);
  }
}

/** The Node as the kubelet registers it: kube-proxy reads its IP (and waits 30 s for it otherwise). */
async function registerNode(kc: k8s.KubeConfig): Promise<void> {
  await kc.makeApiClient(k8s.CoreV1Api).createNode({
    body: {
      metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName } },
      status: { addresses: [{ type: 'InternalIP', address: nodeIp }] },
    },
  });
}

function startWatchdog(dir: string): void {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'clusterWatchdog.ts');
  spawn(process.execPath, [script, String(process.pid), dir], { detached: true, stdio: 'ignore' }).unref();
}
