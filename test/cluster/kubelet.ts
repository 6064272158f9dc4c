// The node's kubelet, on containerd's CRI. Its configuration is what this
// machine allows (ADR 0042): cgroup v1 with the cgroupfs driver and no QoS
// cgroup tree or node-allocatable enforcement (no systemd to delegate to, and
// the sandbox owns the cgroup roots), swap tolerated, and no image ever pulled
// or garbage-collected (tests import what they run). Its API is served on the
// node IP, authenticated by the bed's CA and authorized by kube-apiserver.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, httpGet } from '../bed/network.ts';
import { BedServer } from '../bed/server.ts';
import { toolPath } from '../bed/tools.ts';
import { clusterDnsIp, clusterDomain, nodeIp } from './clusterNetwork.ts';
import type { ClusterPki } from './clusterPki.ts';

export interface KubeletInputs {
  nodeName: string;
  pki: ClusterPki;
  /** The kubelet's own kubeconfig (system:node:<nodeName>). */
  kubeconfig: string;
  containerdSocket: string;
}

export class Kubelet extends BedServer {
  readonly nodeName: string;
  /** The kubelet's API port on the node IP (logs, exec). */
  readonly port: number;
  private readonly healthzUrl: string;

  private constructor(bedDir: string, inputs: KubeletInputs, port: number, healthzPort: number) {
    const dir = path.join(bedDir, 'kubelet');
    mkdirSync(dir, { recursive: true });
    const configFile = path.join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify(kubeletConfiguration(dir, inputs, port, healthzPort), null, 2));
    super(
      bedDir,
      {
        name: 'kubelet',
        command: toolPath('kubelet'),
        args: [
          `--config=${configFile}`,
          `--kubeconfig=${inputs.kubeconfig}`,
          `--root-dir=${path.join(dir, 'root')}`,
          `--cert-dir=${path.join(dir, 'pki')}`,
          `--hostname-override=${inputs.nodeName}`,
          `--node-ip=${nodeIp}`,
          '--v=1',
        ],
      },
      60_000,
    );
    this.nodeName = inputs.nodeName;
    this.port = port;
    this.healthzUrl = `http://127.0.0.1:${healthzPort}/healthz`;
  }

  static async create(bedDir: string, inputs: KubeletInputs): Promise<Kubelet> {
    return new Kubelet(bedDir, inputs, await freePort(), await freePort());
  }

  protected async isReady(): Promise<boolean> {
    return (await httpGet(this.healthzUrl)).status === 200;
  }
}

function kubeletConfiguration(dir: string, inputs: KubeletInputs, port: number, healthzPort: number): object {
  const resolvConf = path.join(dir, 'resolv.conf');
  // Pods with dnsPolicy Default get the cluster's DNS too: no resolver of the host's is ever asked.
  writeFileSync(resolvConf, `nameserver ${clusterDnsIp}\n`);
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: nodeIp,
    port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort,
    tlsCertFile: inputs.pki.kubeletServing.cert,
    tlsPrivateKeyFile: inputs.pki.kubeletServing.key,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: inputs.pki.caCert },
    },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${inputs.containerdSocket}`,
    cgroupDriver: 'cgroupfs',
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    failSwapOn: false,
    failCgroupV1: false,
    // The kubelet sets this as its file limit; raising a limit is refused here (1000000 by default).
    maxOpenFiles: 4096,
    clusterDNS: [clusterDnsIp],
    clusterDomain,
    resolvConf,
    podLogsDir: path.join(dir, 'pod-logs'),
    volumePluginDir: path.join(dir, 'volume-plugins'),
    // Imported images cannot be pulled again: never collect them, and never evict for disk.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
    serializeImagePulls: false,
    // Mounted Secrets follow their object within seconds (default 1 m): a rotated certificate reaches
    // the pods that mount it while a test's job still runs.
    syncFrequency: '10s',
    registerNode: true,
    rotateCertificates: false,
    serverTLSBootstrap: false,
  };
}
