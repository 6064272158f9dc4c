// The fixed network layout of the cluster tier (ADR 0042). Every part of the
// tier reads its addresses from here: the bridge, CNI, the kubelet, the
// cluster tier's kube-apiserver, and kube-proxy and CoreDNS.
//
//   host netns ── ferry0 (10.244.0.1/24) ──veth── pod netns (10.244.0.2..254)
//
// Pods live in network namespaces on a bridge the bed creates in the host's
// own namespace; the host end of the bridge is the node: its IP, the address
// kube-apiserver binds and advertises, and where cluster DNS answers. Nothing
// is masqueraded and nothing is forwarded, so pod traffic can only reach this
// machine (the bridge, and the host's own addresses through the gateway).

/** The Linux bridge the bed creates and deletes; its presence marks a running cluster tier. */
export const bridgeName = 'ferry0';

/** The host's address on the bridge: node IP, kube-apiserver, cluster DNS, pods' gateway. */
export const hostAddress = '10.244.0.1';

/** Prefix length of the pod subnet on the bridge. */
export const podPrefixLength = 24;

/** The pods' subnet: CNI's host-local IPAM hands out addresses from here. */
export const podCidr = '10.244.0.0/24';

/** The node IP the kubelet reports (not loopback, or `kubectl logs` cannot reach the kubelet). */
export const nodeIp = hostAddress;

/** Cluster IPs of Services (the cluster tier's kube-apiserver `--service-cluster-ip-range`). */
export const serviceCidr = '10.96.0.0/24';

/** The `kubernetes` Service's cluster IP: the first address of serviceCidr. */
export const kubernetesServiceIp = '10.96.0.1';

/** Where cluster DNS answers (CoreDNS on the host, port 53); the kubelet's clusterDNS. */
export const clusterDnsIp = hostAddress;

export const clusterDomain = 'cluster.local';

/** The CNI network's name: also names its host-local IPAM state and libcni's cached results. */
export const cniNetworkName = 'ferry';
