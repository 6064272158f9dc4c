// A stand-in pod for testing the service network without a kubelet: a network
// namespace with a veth pair on ferry0, an address from the pod subnet, and a
// resolv.conf as the kubelet writes one for a pod (cluster DNS, the search
// path of its namespace, ndots:5). Unlike the CNI's pods (cniNetwork.ts) it
// has a default route through the host, so what stops its traffic to the
// outside is the pod-network guard alone.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BedServer } from '../bed/server.ts';
import { httpGet } from '../bed/network.ts';
import { toolPath } from '../bed/tools.ts';
import { bridgeName, clusterDnsIp, clusterDomain, hostAddress, podPrefixLength } from './clusterNetwork.ts';
import { ip } from './hostNetworkCommands.ts';

const run = promisify(execFile);
const probeScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'podProbe.ts');

/** Every namespace this module creates is named with this prefix (what a leak check looks for). */
export const podNamespacePrefix = 'ferry-pod-';

export class PodNamespace {
  readonly name: string;
  readonly address: string;
  private readonly hostVeth: string;

  private constructor(name: string, address: string, hostVeth: string) {
    this.name = name;
    this.address = address;
    this.hostVeth = hostVeth;
  }

  /** `index` picks the address 10.244.0.<index> and names the host's veth end. */
  static async create(pod: string, k8sNamespace: string, index: number): Promise<PodNamespace> {
    const address = hostAddress.replace(/\.\d+$/, `.${index}`);
    const ns = new PodNamespace(`${podNamespacePrefix}${pod}`, address, `ferryp${index}`);
    await ip(['netns', 'add', ns.name]);
    try {
      await ns.wire();
      ns.writeResolvConf(k8sNamespace);
    } catch (err) {
      await ns.remove();
      throw err;
    }
    return ns;
  }

  private async wire(): Promise<void> {
    await ip(['link', 'add', this.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.name]);
    await ip(['link', 'set', this.hostVeth, 'master', bridgeName, 'up']);
    const inPod = (args: string[]) => ip(['-n', this.name, ...args]);
    await inPod(['link', 'set', 'lo', 'up']);
    await inPod(['addr', 'add', `${this.address}/${podPrefixLength}`, 'dev', 'eth0']);
    await inPod(['link', 'set', 'eth0', 'up']);
    await inPod(['route', 'add', 'default', 'via', hostAddress]);
  }

  /** `ip netns exec` bind-mounts /etc/netns/<name>/resolv.conf over /etc/resolv.conf. */
  private writeResolvConf(k8sNamespace: string): void {
    const search = [`${k8sNamespace}.svc.${clusterDomain}`, `svc.${clusterDomain}`, clusterDomain];
    mkdirSync(this.etcDir(), { recursive: true });
    writeFileSync(
      path.join(this.etcDir(), 'resolv.conf'),
      `nameserver ${clusterDnsIp}\nsearch ${search.join(' ')}\noptions ndots:5\n`,
    );
  }

  private etcDir(): string {
    return path.join('/etc/netns', this.name);
  }

  /** Runs a podProbe.ts command inside the namespace and parses its JSON result. */
  async probe(...args: string[]): Promise<Record<string, unknown>> {
    const { stdout } = await run('ip', ['netns', 'exec', this.name, toolPath('node'), probeScript, ...args], {
      timeout: 20_000,
    });
    return JSON.parse(stdout) as Record<string, unknown>;
  }

  /** An HTTP server inside the namespace, as a bed process (reaped by the watchdog). */
  httpServer(bedDir: string, port: number, text: string): PodHttpServer {
    return new PodHttpServer(bedDir, this, port, text);
  }

  /** Deletes the namespace (and with it both ends of the veth pair) and its /etc/netns entry. */
  async remove(): Promise<void> {
    const listed = await ip(['netns', 'list']);
    if (listed.split('\n').some((line) => line.split(' ')[0] === this.name))
      await ip(['netns', 'del', this.name]);
    rmSync(this.etcDir(), { recursive: true, force: true });
    removeIfEmpty(path.dirname(this.etcDir())); // /etc/netns itself, when the bed made it
  }
}

export class PodHttpServer extends BedServer {
  readonly url: string;

  constructor(bedDir: string, pod: PodNamespace, port: number, text: string) {
    super(
      bedDir,
      {
        name: `${pod.name}-http`,
        command: 'ip',
        args: ['netns', 'exec', pod.name, toolPath('node'), probeScript, 'serve', String(port), text],
      },
      15_000,
    );
    // The host reaches a pod directly over ferry0.
    this.url = `http://${pod.address}:${port}/`;
  }

  protected async isReady(): Promise<boolean> {
    return (await httpGet(this.url)).status === 200;
  }
}

/** Removes `dir` if it is an empty directory (e.g. /etc/netns once the bed's entries are gone). */
export function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty (another namespace's entry), or gone
  }
}
