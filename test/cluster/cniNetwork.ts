// The pods' CNI network: Debian's bridge and host-local plugins on ferry0
// (clusterNetwork.ts). containerd's CRI reads the config from the bed's own
// conf dir; host-local keeps its leases under the bed's directory.
//
// No masquerading (ipMasq false) and no default route: a pod reaches its own
// subnet on the bridge, the host's address as its gateway, and the Service
// range through the host (where kube-proxy translates it to a host or pod
// address). Any other destination is unreachable from the pod, so pod traffic
// cannot leave this machine.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bridgeName, cniNetworkName, hostAddress, podCidr, serviceCidr } from './clusterNetwork.ts';

/** Writes the network's conflist into `confDir`; host-local's state goes to `ipamDir`. */
export function writeCniConfig(confDir: string, ipamDir: string): void {
  mkdirSync(ipamDir, { recursive: true });
  const conflist = {
    cniVersion: '1.0.0',
    name: cniNetworkName,
    plugins: [
      {
        type: 'bridge',
        bridge: bridgeName,
        isGateway: true,
        ipMasq: false,
        // A pod reaching itself through a Service comes back over its own veth.
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: ipamDir,
          ranges: [[{ subnet: podCidr, gateway: hostAddress }]],
          routes: [{ dst: serviceCidr, gw: hostAddress }],
        },
      },
    ],
  };
  writeFileSync(path.join(confDir, `10-${cniNetworkName}.conflist`), JSON.stringify(conflist, null, 2));
}
