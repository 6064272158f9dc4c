// The cluster tier's service network (ADR 0041): what makes Services and DNS
// work for pods while keeping pod traffic on this machine.
//
//   PodNetworkGuard  nftables table + ferry0 forwarding + the Service range's route
//   KubeProxy        ClusterIP -> endpoint translation (nftables mode)
//   CoreDns          cluster.local from the API, NXDOMAIN for everything else
//
// Order: the guard before any pod exists (the CNI bridge plugin turns on
// forwarding for the whole host with the first pod), kube-proxy and CoreDNS
// once kube-apiserver serves. Teardown in reverse; reapServiceNetwork() is the
// sweep for a tier whose owner died.
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { serviceCidr } from './clusterNetwork.ts';
import { CoreDns } from './coreDns.ts';
import { deleteNftTables, ip, nftTables, routesTo } from './hostNetworkCommands.ts';
import { KubeProxy, kubeProxyTable } from './kubeProxy.ts';
import { guardTable, PodNetworkGuard } from './podNetworkGuard.ts';
import { podNamespacePrefix, removeIfEmpty } from './podNamespace.ts';

export interface ServiceNetworkInputs {
  bedDir: string;
  /** The bed's CA (its directory issues CoreDNS's client certificate). */
  pki: { dir: string; caCert: string };
  apiServerUrl: string;
  adminKubeconfig: string;
  /** system:kube-proxy's kubeconfig (bound to system:node-proxier by the default RBAC). */
  kubeProxyKubeconfig: string;
  nodeName: string;
}

/** kube-proxy and CoreDNS, constructed (not started); CoreDNS's identity and RBAC are in place. */
export async function serviceNetworkServers(inputs: ServiceNetworkInputs): Promise<[KubeProxy, CoreDns]> {
  const kubeProxy = await KubeProxy.create(inputs.bedDir, inputs.kubeProxyKubeconfig, inputs.nodeName);
  const coreDns = await CoreDns.create(
    inputs.bedDir,
    inputs.pki,
    inputs.apiServerUrl,
    inputs.adminKubeconfig,
  );
  return [kubeProxy, coreDns];
}

export { PodNetworkGuard };

/** What the service network left on the host; empty after a clean teardown. */
export async function serviceNetworkLeftovers(): Promise<string[]> {
  const left: string[] = [];
  for (const table of await nftTables()) {
    if (table.name === kubeProxyTable || table.name === guardTable)
      left.push(`nftables table ${table.family} ${table.name}`);
  }
  for (const route of await routesTo(serviceCidr)) left.push(`route ${route.dst} dev ${route.dev ?? '?'}`);
  for (const ns of await podNamespaces()) left.push(`network namespace ${ns}`);
  for (const entry of netnsEtcEntries()) left.push(`/etc/netns/${entry}`);
  return left;
}

/** Removes whatever serviceNetworkLeftovers() finds (the processes are the bed's pid files' to reap). */
export async function reapServiceNetwork(): Promise<void> {
  await deleteNftTables(kubeProxyTable);
  await new PodNetworkGuard().remove(); // its table, ferry0's forwarding, the Service range's route
  for (const ns of await podNamespaces()) await ip(['netns', 'del', ns]);
  for (const entry of netnsEtcEntries())
    rmSync(path.join('/etc/netns', entry), { recursive: true, force: true });
  removeIfEmpty('/etc/netns');
}

async function podNamespaces(): Promise<string[]> {
  return (await ip(['netns', 'list']))
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(podNamespacePrefix));
}

function netnsEtcEntries(): string[] {
  try {
    return readdirSync('/etc/netns').filter((entry) => entry.startsWith(podNamespacePrefix));
  } catch {
    return [];
  }
}
