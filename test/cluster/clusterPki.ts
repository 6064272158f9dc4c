// The cluster tier's certificates, all from the bed's CA (test/bed/certificates.ts):
// kube-apiserver's serving certificate for the node's address and the
// `kubernetes` Service's IP, and one client certificate per component, each
// named the way Kubernetes' default RBAC and the Node authorizer expect.
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import {
  createControlPlanePki,
  issueClientCertificate,
  issueServingCertificate,
  kubeconfigWithClientCertificate,
  type ControlPlanePki,
} from '../bed/certificates.ts';
import { hostAddress, kubernetesServiceIp, nodeIp } from './clusterNetwork.ts';

export interface CertificatePair {
  cert: string;
  key: string;
}

export interface ClusterPki extends ControlPlanePki {
  dir: string;
  /** system:node:<name> in system:nodes: what the Node authorizer and NodeRestriction admit. */
  kubeletClient: CertificatePair;
  /** The kubelet's serving certificate for the node IP; kube-apiserver verifies it for logs/exec. */
  kubeletServing: CertificatePair;
  /** kube-apiserver's identity towards the kubelets (system:masters, as the kubelet authorizes by webhook). */
  apiServerKubeletClient: CertificatePair;
  scheduler: CertificatePair;
  controllerManager: CertificatePair;
  /** system:kube-proxy, bound to system:node-proxier by the default RBAC. */
  kubeProxy: CertificatePair;
  /** Serving certificate for 127.0.0.1: the scheduler's and controller-manager's health ports. */
  loopbackServing: CertificatePair;
}

export async function createClusterPki(dir: string, nodeName: string): Promise<ClusterPki> {
  const base = await createControlPlanePki(dir, {
    apiServerIps: ['127.0.0.1', hostAddress, kubernetesServiceIp],
  });
  const client = (name: string, user: string, group?: string) =>
    issueClientCertificate(dir, name, user, group);
  return {
    ...base,
    dir,
    kubeletClient: await client('kubelet-client', `system:node:${nodeName}`, 'system:nodes'),
    kubeletServing: await issueServingCertificate(dir, 'kubelet-serving', nodeName, {
      ips: [nodeIp],
      dnsNames: [nodeName],
    }),
    apiServerKubeletClient: await client(
      'apiserver-kubelet-client',
      'kube-apiserver-kubelet-client',
      'system:masters',
    ),
    scheduler: await client('kube-scheduler', 'system:kube-scheduler'),
    controllerManager: await client('kube-controller-manager', 'system:kube-controller-manager'),
    kubeProxy: await client('kube-proxy', 'system:kube-proxy'),
    loopbackServing: await issueServingCertificate(dir, 'loopback-serving', 'localhost', {
      ips: ['127.0.0.1'],
      dnsNames: ['localhost'],
    }),
  };
}

/** Writes a kubeconfig for a component's client certificate to `dir/<name>.kubeconfig`. */
export async function writeComponentKubeconfig(
  pki: ClusterPki,
  server: string,
  name: string,
  client: CertificatePair,
): Promise<string> {
  const file = path.join(pki.dir, `${name}.kubeconfig`);
  await writeFile(file, await kubeconfigWithClientCertificate(pki.caCert, server, name, client), {
    mode: 0o600,
  });
  return file;
}
