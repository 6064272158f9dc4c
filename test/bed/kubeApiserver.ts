// kube-apiserver started the way controller-runtime's envtest starts it:
// secure port on 127.0.0.1, a generated CA and serving certificate, an admin
// client certificate in system:masters, service-account signing keys, RBAC.
//
// In the loopback bed there is no controller-manager or scheduler: nothing
// garbage-collects by owner reference and nothing binds pods to nodes. The pod
// runner plays the kubelet's part; the operator deletes what it owns
// explicitly. The cluster tier (test/cluster/) passes ApiServerOptions to run
// it as a real cluster's: on the node's address, with Node authorization, the
// ServiceAccount admission plugin and a client certificate for the kubelets.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, httpGet } from './network.ts';
import { BedServer } from './server.ts';
import { toolPath } from './tools.ts';
import type { ControlPlanePki } from './certificates.ts';

export interface ApiServerOptions {
  /** The address it binds and advertises (the `kubernetes` Service's endpoint); 127.0.0.1 by default. */
  address?: string;
  /** `--service-cluster-ip-range`; 10.0.0.0/24 by default. */
  serviceClusterIpRange?: string;
  /**
   * Run as a real cluster's API server: authorization Node,RBAC, the NodeRestriction and
   * ServiceAccount admission plugins, and this client certificate for reaching the kubelets
   * (logs, exec), whose serving certificates the bed's CA signed.
   */
  kubeletClient?: { cert: string; key: string };
}

export class KubeApiServer extends BedServer {
  readonly url: string;
  private readonly pki: ControlPlanePki;

  private constructor(
    bedDir: string,
    port: number,
    etcdUrl: string,
    pki: ControlPlanePki,
    options: ApiServerOptions,
  ) {
    const address = options.address ?? '127.0.0.1';
    const url = `https://${address}:${port}`;
    super(
      bedDir,
      {
        name: 'kube-apiserver',
        command: toolPath('kube-apiserver'),
        args: [
          `--etcd-servers=${etcdUrl}`,
          `--bind-address=${address}`,
          `--advertise-address=${address}`,
          `--secure-port=${port}`,
          `--cert-dir=${path.join(bedDir, 'apiserver-certs')}`,
          `--tls-cert-file=${pki.servingCert}`,
          `--tls-private-key-file=${pki.servingKey}`,
          `--client-ca-file=${pki.caCert}`,
          `--service-account-issuer=${url}/`,
          `--service-account-key-file=${pki.serviceAccountPub}`,
          `--service-account-signing-key-file=${pki.serviceAccountKey}`,
          `--service-cluster-ip-range=${options.serviceClusterIpRange ?? '10.0.0.0/24'}`,
          ...(options.kubeletClient ? clusterArgs(pki, options.kubeletClient) : loopbackBedArgs),
          '--allow-privileged=true',
          '--v=1',
        ],
      },
      90_000,
    );
    this.url = url;
    this.pki = pki;
  }

  static async create(
    bedDir: string,
    etcdUrl: string,
    pki: ControlPlanePki,
    options: ApiServerOptions = {},
  ): Promise<KubeApiServer> {
    return new KubeApiServer(bedDir, await freePort(), etcdUrl, pki, options);
  }

  protected async isReady(): Promise<boolean> {
    const { status } = await httpGet(`${this.url}/readyz`, {
      ca: readFileSync(this.pki.caCert, 'utf8'),
      cert: readFileSync(this.pki.adminCert, 'utf8'),
      key: readFileSync(this.pki.adminKey, 'utf8'),
    });
    return status === 200;
  }
}

const loopbackBedArgs = [
  '--authorization-mode=RBAC',
  // As envtest does: without a controller-manager no "default"
  // ServiceAccount is ever created, so this plugin would reject every pod.
  '--disable-admission-plugins=ServiceAccount',
];

function clusterArgs(pki: ControlPlanePki, kubeletClient: { cert: string; key: string }): string[] {
  return [
    '--authorization-mode=Node,RBAC',
    // ServiceAccount is on by default; the controller-manager creates the
    // "default" ServiceAccounts it needs.
    '--enable-admission-plugins=NodeRestriction',
    `--kubelet-client-certificate=${kubeletClient.cert}`,
    `--kubelet-client-key=${kubeletClient.key}`,
    `--kubelet-certificate-authority=${pki.caCert}`,
    '--kubelet-preferred-address-types=InternalIP',
  ];
}
