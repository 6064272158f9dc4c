// Cluster DNS for the cluster tier (ADR 0041): CoreDNS as a host process on
// the node's address (clusterNetwork.ts: clusterDnsIp, port 53), where the
// kubelet's clusterDNS points every pod.
//
// It answers from the Kubernetes API only: the kubernetes plugin serves
// cluster.local and the reverse zones from Services, EndpointSlices and
// Namespaces (pods in "insecure" mode: an A record for any dashed pod IP, no
// pod watch). Nothing is forwarded: the bed's CoreDNS is built without the
// forward plugin (tools/coredns), and every name outside the cluster gets an
// authoritative NXDOMAIN, so a pod fails fast on a name it must not reach.
//
// CoreDNS reads the API as its own user, with a ClusterRole granting just the
// list/watch its plugin needs (grantCoreDnsAccess), not the admin's.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { issueClientCertificate, kubeconfigWithClientCertificate } from '../bed/certificates.ts';
import { freePort, httpGet } from '../bed/network.ts';
import { BedServer } from '../bed/server.ts';
import { toolPath } from '../bed/tools.ts';
import { clusterDnsIp, clusterDomain } from './clusterNetwork.ts';

const run = promisify(execFile);

/** The Kubernetes user of CoreDNS's client certificate, and the name of its ClusterRole(Binding). */
export const coreDnsUser = 'ferry-bed:coredns';

export interface CoreDnsOptions {
  /** Where DNS is served; clusterDnsIp:53 by default. */
  address?: string;
  port?: number;
  /** Loopback ports of the health (/health) and ready (/ready) plugins. */
  healthPort: number;
  readyPort: number;
}

export class CoreDns extends BedServer {
  readonly address: string;
  readonly port: number;
  private readonly readyUrl: string;

  constructor(bedDir: string, kubeconfigPath: string, options: CoreDnsOptions) {
    const dir = path.join(bedDir, 'coredns');
    mkdirSync(dir, { recursive: true });
    const address = options.address ?? clusterDnsIp;
    const port = options.port ?? 53;
    const corefile = path.join(dir, 'Corefile');
    writeFileSync(corefile, corefileFor(kubeconfigPath, address, port, options));
    super(bedDir, { name: 'coredns', command: toolPath('coredns'), args: ['-conf', corefile] }, 30_000);
    this.address = address;
    this.port = port;
    this.readyUrl = `http://127.0.0.1:${options.readyPort}/ready`;
  }

  /**
   * CoreDNS with its own identity: a client certificate for coreDnsUser from the CA in `pki.dir`,
   * the ClusterRole applied with `adminKubeconfig`, and free loopback ports for health and ready.
   */
  static async create(
    bedDir: string,
    pki: { dir: string; caCert: string },
    apiServerUrl: string,
    adminKubeconfig: string,
  ): Promise<CoreDns> {
    const client = await issueClientCertificate(pki.dir, 'coredns', coreDnsUser);
    const kubeconfig = path.join(pki.dir, 'coredns.kubeconfig');
    writeFileSync(
      kubeconfig,
      await kubeconfigWithClientCertificate(pki.caCert, apiServerUrl, coreDnsUser, client),
      {
        mode: 0o600,
      },
    );
    await grantCoreDnsAccess(adminKubeconfig);
    return new CoreDns(bedDir, kubeconfig, { healthPort: await freePort(), readyPort: await freePort() });
  }

  /** Ready once the kubernetes plugin has synced its caches from the API. */
  protected async isReady(): Promise<boolean> {
    return (await httpGet(this.readyUrl)).status === 200;
  }
}

function corefileFor(kubeconfigPath: string, address: string, port: number, options: CoreDnsOptions): string {
  // health and ready are process-wide listeners: declared once, in the cluster's block.
  return `# The cluster tier's DNS (test/cluster/coreDns.ts). No forward plugin: nothing leaves this machine.
${clusterDomain}:${port} in-addr.arpa:${port} ip6.arpa:${port} {
    bind ${address}
    errors
    log
    health 127.0.0.1:${options.healthPort}
    ready 127.0.0.1:${options.readyPort}
    kubernetes ${clusterDomain} in-addr.arpa ip6.arpa {
        kubeconfig ${kubeconfigPath}
        pods insecure
        ttl 5
    }
}

# Every other name: this cluster knows no such name, and asks no one else.
.:${port} {
    bind ${address}
    errors
    log
    template ANY ANY {
        rcode NXDOMAIN
    }
}
`;
}

/** What the kubernetes plugin lists and watches (pods "insecure" needs no pod watch). */
function coreDnsRbac(): object {
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: coreDnsUser },
        rules: [
          { apiGroups: [''], resources: ['services', 'namespaces'], verbs: ['list', 'watch'] },
          { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: coreDnsUser },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: coreDnsUser },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: coreDnsUser }],
      },
    ],
  };
}

/** Applies CoreDNS's ClusterRole and its binding to coreDnsUser (idempotent). */
export async function grantCoreDnsAccess(adminKubeconfig: string): Promise<void> {
  const child = run(toolPath('kubectl'), ['--kubeconfig', adminKubeconfig, 'apply', '-f', '-'], {
    timeout: 30_000,
  });
  child.child.stdin?.end(JSON.stringify(coreDnsRbac()));
  try {
    await child;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`applying CoreDNS's RBAC failed: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}
