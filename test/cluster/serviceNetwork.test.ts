// The cluster tier's service network, seen from inside a pod: Services and
// DNS work, and nothing a pod sends leaves this machine. Runs without a
// kubelet (serviceNetworkTestBed.ts): the pods are network namespaces on
// ferry0, the Node is registered by the test.
import { existsSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { httpGet } from '../bed/network.ts';
import { bridgeName, clusterDomain, kubernetesServiceIp } from './clusterNetwork.ts';
import { nftTables, routeDeviceFor } from './hostNetworkCommands.ts';
import { guardTable } from './podNetworkGuard.ts';
import { serviceNetworkLeftovers } from './serviceNetwork.ts';
import { bridgeWaitMs, ServiceNetworkTestBed } from './serviceNetworkTestBed.ts';

const figures: Record<string, number> = {};
let bed: ServiceNetworkTestBed;

beforeAll(async () => {
  bed = await ServiceNetworkTestBed.start();
  Object.assign(figures, bed.startTimes);
}, bridgeWaitMs + 60_000);

afterAll(async () => {
  await bed?.stop(); // a no-op once the teardown test ran
  console.log(
    `service network figures (ms): ${JSON.stringify(figures)}; stop: ${JSON.stringify(bed?.stopTimes)}`,
  );
});

/** A Service without a selector and the EndpointSlice of the server pod, as a controller would write it. */
async function createWebService(kc: k8s.KubeConfig, podIp: string): Promise<string> {
  const service = await kc.makeApiClient(k8s.CoreV1Api).createNamespacedService({
    namespace: 'default',
    body: { metadata: { name: 'web' }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
  });
  await kc.makeApiClient(k8s.DiscoveryV1Api).createNamespacedEndpointSlice({
    namespace: 'default',
    body: {
      metadata: { name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [podIp], conditions: { ready: true } }],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    },
  });
  return service.spec!.clusterIP!;
}

async function untilServed(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const served = await httpGet(url).then(
      (r) => r.status === 200,
      () => false,
    );
    if (served) return;
    if (Date.now() > deadline) throw new Error(`${url} not served after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("the cluster tier's service network", () => {
  let clusterIp: string;

  it('translates a new Service to its endpoint and resolves its name in a pod', async () => {
    const created = Date.now();
    clusterIp = await createWebService(bed.kubeConfig(), bed.server.address);
    // Timed from the host (kube-proxy's output DNAT): a tight poll, no pod process per try.
    await untilServed(`http://${clusterIp}/`, 20_000);
    figures['service programmed'] = Date.now() - created;

    const fqdn = `web.default.svc.${clusterDomain}`;
    expect(await bed.client.probe('resolve', fqdn)).toEqual({ addresses: [clusterIp] });
    expect(await bed.client.probe('resolve', 'web')).toEqual({ addresses: [clusterIp] }); // the pod's search path
    expect(await bed.client.probe('get', `http://${fqdn}/`)).toEqual({
      status: 200,
      body: 'hello from the server pod',
    });
  });

  it('resolves kubernetes.default.svc to the kubernetes Service and reaches kube-apiserver over TLS', async () => {
    expect(await bed.client.probe('resolve', 'kubernetes.default.svc')).toEqual({
      addresses: [kubernetesServiceIp],
    });
    // Verified against the bed's CA for the name a pod uses: the serving certificate names it.
    const version = await bed.client.probe('get', 'https://kubernetes.default.svc/version', bed.pki.caCert);
    expect(version.status).toBe(200);
    expect(JSON.parse(version.body as string)).toMatchObject({ gitVersion: expect.stringMatching(/^v1\./) });
  });

  it('resolves no name outside the cluster', async () => {
    expect(await bed.client.probe('resolve', 'example.com')).toEqual({ error: 'ENOTFOUND' });
    expect(await bed.client.probe('resolve', `nothing.default.svc.${clusterDomain}`)).toEqual({
      error: 'ENOTFOUND',
    });
  });

  it('refuses a pod packet to an address outside the machine at the guard', async () => {
    // Never probe the outside without the guard in place: without it the host would forward the packet.
    expect((await nftTables()).some((t) => t.name === guardTable)).toBe(true);
    const before = await bed.guard.packets('pod-egress-refused');
    // 203.0.113.1 is TEST-NET-3 (documentation only, never routed on the internet).
    const attempt = await bed.client.probe('connect', '203.0.113.1', '80');
    expect(attempt).toMatchObject({ connected: false, error: 'EHOSTUNREACH' });
    expect(attempt.ms).toBeLessThan(1_000);
    expect(await bed.guard.packets('pod-egress-refused')).toBe(before + 1); // its one SYN
  });

  it('routes the Service range to the pod bridge, never out of the default route', async () => {
    // A ClusterIP nothing translates (unallocated, or kube-proxy down) stays on the bed's bridge.
    expect(await routeDeviceFor('10.96.0.250')).toBe(bridgeName);
  });

  it('leaves no process, network namespace, rule or route behind', async () => {
    const pids = [bed.kubeProxy.pid, bed.coreDns.pid, bed.httpServer.pid, bed.apiServer.pid];
    const began = Date.now();
    await bed.stop();
    figures['teardown'] = Date.now() - began;

    expect(await serviceNetworkLeftovers()).toEqual([]);
    expect(pids.filter((pid) => pid !== undefined && isAlive(pid))).toEqual([]);
    expect(existsSync(`/sys/class/net/${bridgeName}`)).toBe(false);
    expect(existsSync(bed.dir)).toBe(false);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
