// kube-apiserver started the way controller-runtime's envtest starts it:
// secure port on 127.0.0.1, a generated CA and serving certificate, an admin
// client certificate in system:masters, service-account signing keys, RBAC.
//
// There is no controller-manager or scheduler: nothing garbage-collects by
// owner reference and nothing binds pods to nodes. The pod runner plays the
// kubelet's part; the operator deletes what it owns explicitly.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, httpGet } from './network.ts';
import { BedServer } from './server.ts';
import { toolPath } from './tools.ts';
import type { ControlPlanePki } from './certificates.ts';

export class KubeApiServer extends BedServer {
  readonly url: string;
  private readonly pki: ControlPlanePki;

  private constructor(bedDir: string, port: number, etcdUrl: string, pki: ControlPlanePki) {
    const url = `https://127.0.0.1:${port}`;
    super(
      bedDir,
      {
        name: 'kube-apiserver',
        command: toolPath('kube-apiserver'),
        args: [
          `--etcd-servers=${etcdUrl}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          `--secure-port=${port}`,
          `--cert-dir=${path.join(bedDir, 'apiserver-certs')}`,
          `--tls-cert-file=${pki.servingCert}`,
          `--tls-private-key-file=${pki.servingKey}`,
          `--client-ca-file=${pki.caCert}`,
          `--service-account-issuer=${url}/`,
          `--service-account-key-file=${pki.serviceAccountPub}`,
          `--service-account-signing-key-file=${pki.serviceAccountKey}`,
          '--service-cluster-ip-range=10.0.0.0/24',
          '--authorization-mode=RBAC',
          // As envtest does: without a controller-manager no "default"
          // ServiceAccount is ever created, so this plugin would reject every pod.
          '--disable-admission-plugins=ServiceAccount',
          '--allow-privileged=true',
          '--v=1',
        ],
      },
      90_000,
    );
    this.url = url;
    this.pki = pki;
  }

  static async create(bedDir: string, etcdUrl: string, pki: ControlPlanePki): Promise<KubeApiServer> {
    return new KubeApiServer(bedDir, await freePort(), etcdUrl, pki);
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
