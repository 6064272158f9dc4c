// kube-scheduler and kube-controller-manager: control-plane components that
// only talk to kube-apiserver, each with its own client certificate, and
// serve /healthz on a loopback port (readiness). One instance of each, so no
// leader election: a restart does not wait out a previous holder's lease.
import { readFileSync } from 'node:fs';
import { freePort, httpGet } from '../bed/network.ts';
import { BedServer } from '../bed/server.ts';
import { toolPath, type ToolName } from '../bed/tools.ts';
import type { ClusterPki } from './clusterPki.ts';

export class KubeComponent extends BedServer {
  private readonly healthUrl: string;
  private readonly caCert: string;

  private constructor(
    bedDir: string,
    name: ToolName,
    port: number,
    pki: ClusterPki,
    kubeconfig: string,
    args: string[],
  ) {
    super(
      bedDir,
      {
        name,
        command: toolPath(name),
        args: [
          `--kubeconfig=${kubeconfig}`,
          `--authentication-kubeconfig=${kubeconfig}`,
          `--authorization-kubeconfig=${kubeconfig}`,
          `--client-ca-file=${pki.caCert}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${port}`,
          `--tls-cert-file=${pki.loopbackServing.cert}`,
          `--tls-private-key-file=${pki.loopbackServing.key}`,
          '--leader-elect=false',
          '--v=1',
          ...args,
        ],
      },
      60_000,
    );
    this.healthUrl = `https://127.0.0.1:${port}/healthz`;
    this.caCert = pki.caCert;
  }

  static async scheduler(bedDir: string, pki: ClusterPki, kubeconfig: string): Promise<KubeComponent> {
    return new KubeComponent(bedDir, 'kube-scheduler', await freePort(), pki, kubeconfig, []);
  }

  /**
   * The controller-manager as kubeadm runs it: each controller under its own ServiceAccount
   * (so the default RBAC roles apply), the token controller signing with the bed's key and
   * putting the CA into the kube-root-ca.crt ConfigMaps; no node CIDRs (CNI has a fixed range).
   */
  static async controllerManager(
    bedDir: string,
    pki: ClusterPki,
    kubeconfig: string,
  ): Promise<KubeComponent> {
    return new KubeComponent(bedDir, 'kube-controller-manager', await freePort(), pki, kubeconfig, [
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.caCert}`,
      '--allocate-node-cidrs=false',
      '--controllers=*',
    ]);
  }

  protected async isReady(): Promise<boolean> {
    const { status } = await httpGet(this.healthUrl, { ca: readFileSync(this.caCert, 'utf8') });
    return status === 200;
  }
}
