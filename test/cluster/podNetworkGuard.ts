// The pod-network guard (ADR 0041): what keeps pod traffic on this machine.
//
// The pods' bridge is routed, not masqueraded (cniNetwork.ts: ipMasq false),
// but a Service hop is routed through the host: a pod's packet to a ClusterIP
// arrives on ferry0, kube-proxy DNATs it to an endpoint, and the host forwards
// it back out of ferry0. So the host must forward for ferry0, and the CNI
// bridge plugin even turns forwarding on for every interface (isGateway). A
// forwarding host sends a pod's packet to any other destination out of its
// default route, with the pod's address as the source: it leaves the machine,
// whatever the replies do. Routes inside the pod (none to the outside) are the
// pod's own business; the guard does not trust them. It installs:
//
//   - table inet ferry-pod-guard, chain forward (after DNAT, so a Service's
//     translated destination is what is judged):
//       pod subnet -> pod subnet over ferry0          accept (pod to pod, Services)
//       link-local scopes over ferry0                  accept (IPv6 neighbour discovery,
//                                                      MLD, 224.0.0.0/24: bridged between
//                                                      pods, never routed)
//       anything else that came in on ferry0           reject (counted)
//       anything else going out on ferry0              drop   (counted)
//     The host's own 10.244.0.1 (DNS, kube-apiserver) is local delivery, not
//     forwarding, and stays reachable.
//   - forwarding on for ferry0 only (net.ipv4.conf.ferry0.forwarding): the pod
//     subnet is forwarded without switching forwarding on for other interfaces.
//   - the Service range routed to ferry0, as kube-proxy's IPVS mode routes it
//     to its dummy kube-ipvs0 (this kernel has no dummy interfaces): a ClusterIP
//     that nothing translates (kube-proxy not running yet, or stopped) is
//     looked up on the bed's own bridge and dropped there, never sent out of
//     the host's default route. Host processes still reach ClusterIPs: the
//     route exists, so the packet gets to kube-proxy's output DNAT.
//
// remove() undoes all three; removing the bridge removes the last two with it.
import { existsSync, writeFileSync } from 'node:fs';
import { bridgeName, podCidr, serviceCidr } from './clusterNetwork.ts';
import { deleteNftTables, ip, nft, nftTables, routesTo } from './hostNetworkCommands.ts';

export const guardTable = 'ferry-pod-guard';

/** Named counters of the guard's table: packets it stopped, by direction. */
export type GuardCounter = 'pod-egress-refused' | 'pod-ingress-dropped';

function guardRuleset(): string {
  return `
table inet ${guardTable} {
  comment "Ferry test bed: pod traffic stays on this machine (test/cluster/podNetworkGuard.ts)"
  counter pod-egress-refused { comment "forwarded from ferry0 to a destination outside the pod subnet" }
  counter pod-ingress-dropped { comment "forwarded to ferry0 from anywhere but the pod subnet" }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "${bridgeName}" oifname "${bridgeName}" ip saddr ${podCidr} ip daddr ${podCidr} accept
    iifname "${bridgeName}" oifname "${bridgeName}" ip daddr 224.0.0.0/24 accept
    iifname "${bridgeName}" oifname "${bridgeName}" ip6 daddr { fe80::/10, ff02::/16 } accept
    iifname "${bridgeName}" counter name pod-egress-refused reject with icmpx type admin-prohibited
    oifname "${bridgeName}" counter name pod-ingress-dropped drop
  }
}
`;
}

function forwardingFile(): string {
  return `/proc/sys/net/ipv4/conf/${bridgeName}/forwarding`;
}

export class PodNetworkGuard {
  /**
   * Installs the guard on ferry0, which must exist. Fails, changing nothing, if a guard table is
   * already there (another tier on this machine, or one that died: 'nft delete table inet
   * ferry-pod-guard').
   */
  async install(): Promise<void> {
    if (!existsSync(forwardingFile()))
      throw new Error(`pod-network guard: bridge ${bridgeName} does not exist`);
    if ((await nftTables()).some((t) => t.name === guardTable)) {
      throw new Error(
        `pod-network guard: nftables table ${guardTable} already exists (another cluster tier?)`,
      );
    }
    await nft([], guardRuleset());
    // Only now that the guard filters it may the bridge forward.
    writeFileSync(forwardingFile(), '1');
    if ((await routesTo(serviceCidr)).length === 0) {
      await ip(['route', 'add', serviceCidr, 'dev', bridgeName, 'scope', 'link']);
    }
  }

  /** Removes what install() added; whatever is already gone (e.g. with the bridge) is skipped. */
  async remove(): Promise<void> {
    if ((await routesTo(serviceCidr)).some((r) => r.dev === bridgeName)) {
      await ip(['route', 'del', serviceCidr, 'dev', bridgeName]);
    }
    // Forwarding goes off before the filter does.
    if (existsSync(forwardingFile())) writeFileSync(forwardingFile(), '0');
    await deleteNftTables(guardTable);
  }

  /** Packets counted by one of the guard's counters since install(). */
  async packets(counter: GuardCounter): Promise<number> {
    const listed = JSON.parse(await nft(['-j', 'list', 'counter', 'inet', guardTable, counter])) as {
      nftables: { counter?: { packets: number } }[];
    };
    const found = listed.nftables.find((entry) => entry.counter);
    if (!found?.counter) throw new Error(`pod-network guard: counter ${counter} not found in ${guardTable}`);
    return found.counter.packets;
  }
}
