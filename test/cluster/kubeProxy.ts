// kube-proxy for the cluster tier, in nftables mode (ADR 0041): it translates
// ClusterIPs (clusterNetwork.ts: serviceCidr) to their endpoints with rules in
// its own nftables tables, `ip kube-proxy` and `ip6 kube-proxy`.
//
// Why nftables: the nft CLI is one small Debian package and the kernel has
// nf_tables built in; this kernel has no IPVS, and iptables mode would add
// the iptables binaries and their chains in the shared filter/nat tables.
// kube-proxy's tables are its own, so stop() removes them whole and nothing
// of the bed's is left in the host's ruleset.
//
// The configuration changes nothing host-wide: conntrack limits and timeouts
// are left as the kernel has them (kube-proxy would otherwise raise
// nf_conntrack_max, which this sandbox refuses), oom_score_adj is left alone
// (lowering it is refused), NodePorts are opened on the node IP only (not on
// the host's other addresses), and health and metrics serve on loopback.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, httpGet } from '../bed/network.ts';
import { BedServer } from '../bed/server.ts';
import { toolPath } from '../bed/tools.ts';
import { nodeIp, podCidr } from './clusterNetwork.ts';
import { deleteNftTables } from './hostNetworkCommands.ts';

/** The name of kube-proxy's nftables tables (one per IP family), fixed by kube-proxy itself. */
export const kubeProxyTable = 'kube-proxy';

export interface KubeProxyOptions {
  /** The Node whose IP and topology kube-proxy reads; the kubelet registers it. */
  nodeName: string;
  /** Loopback ports for /healthz,/livez and /metrics. */
  healthzPort: number;
  metricsPort: number;
}

export class KubeProxy extends BedServer {
  private readonly livezUrl: string;
  private readonly metricsUrl: string;

  constructor(bedDir: string, kubeconfigPath: string, options: KubeProxyOptions) {
    const dir = path.join(bedDir, 'kube-proxy');
    mkdirSync(dir, { recursive: true });
    const configFile = path.join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify(kubeProxyConfiguration(kubeconfigPath, options), null, 2));
    super(
      bedDir,
      { name: 'kube-proxy', command: toolPath('kube-proxy'), args: [`--config=${configFile}`, '--v=1'] },
      60_000,
    );
    this.livezUrl = `http://127.0.0.1:${options.healthzPort}/livez`;
    this.metricsUrl = `http://127.0.0.1:${options.metricsPort}/metrics`;
  }

  /** A kube-proxy on free loopback ports. */
  static async create(bedDir: string, kubeconfigPath: string, nodeName: string): Promise<KubeProxy> {
    return new KubeProxy(bedDir, kubeconfigPath, {
      nodeName,
      healthzPort: await freePort(),
      metricsPort: await freePort(),
    });
  }

  /**
   * Ready once it has written its rules once: until then no ClusterIP is translated. (/healthz
   * also wants the Node to exist, which the kubelet registers after the service network starts.)
   */
  protected async isReady(): Promise<boolean> {
    if ((await httpGet(this.livezUrl)).status !== 200) return false;
    const { status, body } = await httpGet(this.metricsUrl);
    const synced = /^kubeproxy_sync_proxy_rules_last_timestamp_seconds(?:\{[^}]*\})? ([0-9.e+]+)$/m.exec(
      body,
    );
    return status === 200 && !!synced && Number(synced[1]) > 0;
  }

  /** Stops kube-proxy and deletes its tables: no Service is translated any more. */
  override async stop(): Promise<void> {
    await super.stop();
    await deleteNftTables(kubeProxyTable);
  }

  override async kill(): Promise<void> {
    await super.kill();
    await deleteNftTables(kubeProxyTable);
  }
}

function kubeProxyConfiguration(kubeconfigPath: string, options: KubeProxyOptions): object {
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: kubeconfigPath },
    hostnameOverride: options.nodeName,
    // The node's primary IP, used when the Node object has none yet.
    bindAddress: nodeIp,
    healthzBindAddress: `127.0.0.1:${options.healthzPort}`,
    metricsBindAddress: `127.0.0.1:${options.metricsPort}`,
    mode: 'nftables',
    // nftables sync periods as upstream defaults them: a change is programmed within ~1 s.
    detectLocalMode: 'ClusterCIDR',
    clusterCIDR: podCidr,
    nodePortAddresses: [`${nodeIp}/32`],
    // 0 leaves each conntrack sysctl as it is.
    conntrack: {
      maxPerCore: 0,
      min: 0,
      tcpEstablishedTimeout: '0s',
      tcpCloseWaitTimeout: '0s',
      udpTimeout: '0s',
      udpStreamTimeout: '0s',
    },
    // kube-proxy's default (-999) is a lowering this sandbox refuses; 0 is what it already has.
    oomScoreAdj: 0,
  };
}
