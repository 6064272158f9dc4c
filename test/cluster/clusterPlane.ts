// The cluster tier of the bed (ADR 0042): a real single-node cluster on this
// machine, built from the same pinned upstream sources as the loopback bed.
//
//   ferry0 bridge + pod-network guard
//     ─▶ etcd ─▶ kube-apiserver (10.244.0.1) ─▶ controller-manager, scheduler,
//                                              kube-proxy, CoreDNS (the service network)
//     ─▶ containerd (CRI, CNI bridge) ─▶ kubelet ─▶ node Ready
//
// Started and torn down like the loopback bed: free ports, one temporary
// directory for all state, a watchdog that reaps everything if the owner dies.
// One tier per machine: the bridge's fixed name is the lock (podBridge.ts).
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kubeconfigFor } from '../bed/certificates.ts';
import { EtcdServer } from '../bed/etcd.ts';
import { KubeApiServer } from '../bed/kubeApiserver.ts';
import { repoRoot, toolPath } from '../bed/tools.ts';
import { hostAddress, serviceCidr } from './clusterNetwork.ts';
import { createClusterPki, writeComponentKubeconfig, type ClusterPki } from './clusterPki.ts';
import { writeCniConfig } from './cniNetwork.ts';
import { Containerd } from './containerd.ts';
import { KubeComponent } from './kubeComponent.ts';
import { Kubelet } from './kubelet.ts';
import {
  createLocalVolumes,
  localStorageClass,
  type LocalVolume,
  type LocalVolumeOptions,
} from './localVolumes.ts';
import { reapAbandonedTier, reapNode, saveIpForwarding, type ReapReport } from './nodeReaper.ts';
import { abandonedHolder, createPodBridge, recordBridgeHolder } from './podBridge.ts';
import { PodNetworkGuard, serviceNetworkServers } from './serviceNetwork.ts';

const run = promisify(execFile);

/** The image archives `make tools` builds (tools/image/); the sandbox image among them. */
export const imagesDir = path.join(repoRoot, '.tools', 'images');

export const defaultNodeName = 'ferry-node';

export interface ClusterStartOptions {
  /** Where all state goes; a fresh temporary directory by default. */
  dir?: string;
  /** Keep the directory after stop (for reading the servers' logs). */
  keepDir?: boolean;
  log?: (line: string) => void;
  /** The OCI archive of the sandbox image (localhost/ferry/pause:3.10); .tools/images/pause.oci.tar by default. */
  sandboxImageArchive?: string;
  /** How long to wait for another tier on this machine to stop (the bridge is its lock); 0 by default. */
  waitForMachineMs?: number;
}

/** How to reach the cluster: what a test, helm or kubectl is given. */
export interface ClusterEndpoints {
  dir: string;
  /** Admin (system:masters) kubeconfig. */
  kubeconfig: string;
  apiServerUrl: string;
  nodeName: string;
  /** The host's address on the pod bridge: where servers that pods must reach listen. */
  hostAddress: string;
}

/** Something started after kube-apiserver and stopped before it (the service network's servers). */
interface ClusterServer {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface Parts {
  dir: string;
  pki: ClusterPki;
  etcd: EtcdServer;
  apiServer: KubeApiServer;
  controllerManager: KubeComponent;
  scheduler: KubeComponent;
  serviceNetwork: ClusterServer[];
  containerd: Containerd;
  kubelet: Kubelet;
  kubeconfigPath: string;
}

export class ClusterPlane {
  readonly dir: string;
  readonly pki: ClusterPki;
  readonly etcd: EtcdServer;
  readonly apiServer: KubeApiServer;
  readonly controllerManager: KubeComponent;
  readonly scheduler: KubeComponent;
  readonly containerd: Containerd;
  readonly kubelet: Kubelet;
  readonly kubeconfigPath: string;
  private readonly serviceNetwork: ClusterServer[];

  private constructor(parts: Parts) {
    this.dir = parts.dir;
    this.pki = parts.pki;
    this.etcd = parts.etcd;
    this.apiServer = parts.apiServer;
    this.controllerManager = parts.controllerManager;
    this.scheduler = parts.scheduler;
    this.serviceNetwork = parts.serviceNetwork;
    this.containerd = parts.containerd;
    this.kubelet = parts.kubelet;
    this.kubeconfigPath = parts.kubeconfigPath;
  }

  get nodeName(): string {
    return this.kubelet.nodeName;
  }

  static async start(options: ClusterStartOptions = {}): Promise<ClusterPlane> {
    const log = options.log ?? (() => {});
    const sandboxArchive = options.sandboxImageArchive ?? path.join(imagesDir, 'pause.oci.tar');
    if (!existsSync(sandboxArchive)) {
      throw new Error(`sandbox image archive ${sandboxArchive} not found: run 'make tools' first`);
    }
    // A tier ended without a teardown, its watchdog too (a stopped session), is reaped first.
    const abandoned = abandonedHolder();
    if (abandoned) {
      log(`cluster: reaping an abandoned tier (${abandoned.dir}, owner pid ${abandoned.pid} gone)`);
      await reapAbandonedTier(abandoned.dir);
    }
    const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'ferry-cluster-'));
    // First: it fails fast if another tier runs.
    await createPodBridge({ pid: process.pid, dir }, options.waitForMachineMs);
    mkdirSync(path.join(dir, 'pki'), { recursive: true });
    mkdirSync(path.join(dir, 'pids'), { recursive: true });
    if (options.keepDir) writeFileSync(path.join(dir, 'keep'), '');
    saveIpForwarding(dir);
    recordBridgeHolder({ pid: process.pid, watchdogPid: startWatchdog(dir), dir });
    const started: ClusterServer[] = [];
    const startOne = async (server: ClusterServer) => {
      const began = Date.now();
      started.push(server);
      await server.start();
      log(`cluster: ${server.name} ready in ${Date.now() - began} ms`);
    };
    try {
      // Before any pod exists: the guard keeps pod traffic on this machine (podNetworkGuard.ts).
      await new PodNetworkGuard().install();
      const plane = new ClusterPlane(await startParts(dir, sandboxArchive, startOne, log));
      writeFileSync(path.join(dir, 'cluster.json'), JSON.stringify(plane.endpoints(), null, 2));
      return plane;
    } catch (err) {
      for (const server of started.reverse()) await server.stop().catch(() => {});
      await teardownNode(dir, !!options.keepDir);
      throw err;
    }
  }

  endpoints(): ClusterEndpoints {
    return {
      dir: this.dir,
      kubeconfig: this.kubeconfigPath,
      apiServerUrl: this.apiServer.url,
      nodeName: this.nodeName,
      hostAddress,
    };
  }

  /** Imports an OCI image archive into the node's containerd; resolves with the image names it held. */
  importImage(ociTarPath: string): Promise<string[]> {
    return this.containerd.importImage(ociTarPath);
  }

  /**
   * `count` static PersistentVolumes of `storageClass` (created if missing) on this node, on
   * directories under the cluster's directory (localVolumes.ts).
   */
  createStaticVolumes(
    count: number,
    storageClass = localStorageClass,
    options: LocalVolumeOptions = {},
  ): Promise<LocalVolume[]> {
    const volumesDir = path.join(this.dir, 'volumes');
    return createLocalVolumes(this.kubeconfigPath, this.nodeName, volumesDir, count, storageClass, options);
  }

  /**
   * Stops the cluster. The controllers go first (nothing recreates what is deleted), then every
   * pod is deleted through the API so the kubelet stops its containers and CNI releases their
   * addresses; then the node, the service network and the control plane; then the reaper
   * removes whatever the node left (processes, mounts, the bridge).
   */
  async stop(): Promise<ReapReport> {
    await this.controllerManager.stop();
    await this.scheduler.stop();
    await this.deleteAllPods().catch(() => {}); // the reaper covers a node that cannot
    await this.kubelet.stop();
    await this.containerd.stop();
    for (const server of [...this.serviceNetwork].reverse()) await server.stop();
    await this.apiServer.stop();
    await this.etcd.stop();
    return teardownNode(this.dir, existsSync(path.join(this.dir, 'keep')));
  }

  private async deleteAllPods(): Promise<void> {
    const args = ['delete', 'pods', '--all', '--all-namespaces', '--grace-period=1'];
    await run(toolPath('kubectl'), ['--kubeconfig', this.kubeconfigPath, ...args], { timeout: 30_000 });
  }
}

type StartOne = (server: ClusterServer) => Promise<void>;

/** etcd and kube-apiserver on the node's address, and the admin kubeconfig. */
async function startApiServer(dir: string, pki: ClusterPki, startOne: StartOne) {
  const etcd = await EtcdServer.create(dir, 'kube-etcd');
  await startOne(etcd);
  const apiServer = await KubeApiServer.create(dir, etcd.clientUrl, pki, {
    address: hostAddress,
    serviceClusterIpRange: serviceCidr,
    kubeletClient: pki.apiServerKubeletClient,
  });
  await startOne(apiServer);
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, await kubeconfigFor(pki, apiServer.url), { mode: 0o600 });
  return { etcd, apiServer, kubeconfigPath };
}

async function startParts(
  dir: string,
  sandboxArchive: string,
  startOne: StartOne,
  log: (line: string) => void,
): Promise<Parts> {
  const began = Date.now();
  const nodeName = defaultNodeName;
  const pki = await createClusterPki(path.join(dir, 'pki'), nodeName);
  const { etcd, apiServer, kubeconfigPath } = await startApiServer(dir, pki, startOne);
  const kubeconfig = (name: string, client: { cert: string; key: string }) =>
    writeComponentKubeconfig(pki, apiServer.url, name, client);
  const controllerManager = await KubeComponent.controllerManager(
    dir,
    pki,
    await kubeconfig('kube-controller-manager', pki.controllerManager),
  );
  const scheduler = await KubeComponent.scheduler(
    dir,
    pki,
    await kubeconfig('kube-scheduler', pki.scheduler),
  );
  const containerd = new Containerd(dir);
  writeCniConfig(containerd.cniConfDir, path.join(dir, 'cni', 'ipam'));
  // The service network (serviceNetwork.ts, ADR 0041): kube-proxy and CoreDNS.
  const serviceNetwork = await serviceNetworkServers({
    bedDir: dir,
    pki,
    apiServerUrl: apiServer.url,
    adminKubeconfig: kubeconfigPath,
    kubeProxyKubeconfig: await kubeconfig('kube-proxy', pki.kubeProxy),
    nodeName,
  });
  // kube-proxy is ready only once it has read its Node, which the kubelet registers: the
  // service network comes up alongside the node, and start() returns once both are.
  const serviceNetworkUp = Promise.all(serviceNetwork.map(startOne));
  serviceNetworkUp.catch(() => {}); // awaited below; a failure before that must not go unhandled
  await Promise.all([controllerManager, scheduler, containerd].map(startOne));
  log(`cluster: imported ${(await containerd.importImage(sandboxArchive)).join(', ')}`);
  const kubelet = await Kubelet.create(dir, {
    nodeName,
    pki,
    kubeconfig: await kubeconfig(`system:node:${nodeName}`, pki.kubeletClient),
    containerdSocket: containerd.socket,
  });
  await startOne(kubelet);
  await waitForNodeReady(kubeconfigPath, nodeName, 60_000);
  log(`cluster: node ${nodeName} Ready ${Date.now() - began} ms after start`);
  // The ServiceAccount admission plugin rejects a pod until its namespace's "default" exists.
  await waitForDefaultServiceAccount(kubeconfigPath, 60_000);
  await serviceNetworkUp;
  const servers = { etcd, apiServer, controllerManager, scheduler, serviceNetwork, containerd, kubelet };
  return { dir, pki, kubeconfigPath, ...servers };
}

async function waitForDefaultServiceAccount(kubeconfig: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = await run(toolPath('kubectl'), [
      '--kubeconfig',
      kubeconfig,
      'get',
      'serviceaccount',
      'default',
    ]).then(
      () => true,
      () => false,
    );
    if (found) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the controller-manager made no "default" ServiceAccount within ${timeoutMs} ms`);
}

async function waitForNodeReady(kubeconfig: string, nodeName: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not registered yet';
  while (Date.now() < deadline) {
    try {
      const { stdout } = await run(toolPath('kubectl'), [
        '--kubeconfig',
        kubeconfig,
        'get',
        'node',
        nodeName,
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}',
      ]);
      if (stdout.startsWith('True')) return;
      last = stdout;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`node ${nodeName} not Ready after ${timeoutMs} ms (${last})`);
}

/**
 * Reaps the node (nodeReaper.ts), lets the watchdog go, and removes the directory unless it is
 * kept; resolves once nothing of the tier runs, the watchdog included.
 */
async function teardownNode(dir: string, keepDir: boolean): Promise<ReapReport> {
  const report = await reapNode(dir);
  // Removing pids/ tells the watchdog the teardown was clean; it exits within its 1 s poll.
  rmSync(path.join(dir, 'pids'), { recursive: true, force: true });
  await watchdogGone(Number(readFileSync(path.join(dir, watchdogPidFile), 'utf8')), 5_000);
  if (!keepDir) rmSync(dir, { recursive: true, force: true });
  return report;
}

const watchdogPidFile = 'watchdog.pid';

/** Starts the tier's watchdog; returns its pid. */
function startWatchdog(dir: string): number {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'clusterWatchdog.ts');
  const child = spawn(process.execPath, [script, String(process.pid), dir], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  writeFileSync(path.join(dir, watchdogPidFile), String(child.pid));
  return child.pid!;
}

async function watchdogGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return; // exited (and reaped: it is our child)
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the cluster watchdog (pid ${pid}) did not exit after a clean teardown`);
}
