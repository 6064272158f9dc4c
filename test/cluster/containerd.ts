// containerd with its CRI plugin: the node's container runtime. Everything it
// keeps (images, snapshots, task state, the pods' network namespaces, its
// socket) lives under bedDir/containerd, so teardown removes it with the bed.
//
// Settings this machine needs (ADR 0042): restrict_oom_score_adj, because
// lowering an oom_score_adj needs CAP_SYS_RESOURCE, which the sandbox lacks;
// cgroupfs (SystemdCgroup = false), as there is no systemd; runc from Debian
// (crun refuses the hybrid cgroup layout); images are never pulled (there is
// no registry to reach): the sandbox image is pinned and imported.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BedServer } from '../bed/server.ts';
import { toolPath } from '../bed/tools.ts';

const run = promisify(execFile);

/** The pod sandbox image; tests import it (importImage) before the kubelet starts. */
export const sandboxImage = 'localhost/ferry/pause:3.10';

/** The containerd namespace the CRI plugin, hence the kubelet, works in. */
const criNamespace = 'k8s.io';

export class Containerd extends BedServer {
  readonly socket: string;
  readonly cniConfDir: string;

  constructor(bedDir: string) {
    const dir = path.join(bedDir, 'containerd');
    const socket = path.join(dir, 'containerd.sock');
    const cniConfDir = path.join(bedDir, 'cni', 'net.d');
    mkdirSync(dir, { recursive: true });
    mkdirSync(cniConfDir, { recursive: true });
    const configFile = path.join(dir, 'config.toml');
    writeFileSync(configFile, containerdConfig(dir, socket, cniConfDir));
    super(
      bedDir,
      {
        name: 'containerd',
        command: toolPath('containerd'),
        args: ['--config', configFile],
        // containerd finds containerd-shim-runc-v2 on PATH.
        env: { ...process.env, PATH: `${path.dirname(toolPath('containerd'))}:${process.env.PATH}` },
      },
      30_000,
    );
    this.socket = socket;
    this.cniConfDir = cniConfDir;
  }

  protected async isReady(): Promise<boolean> {
    const plugins = await this.ctr(['plugins', 'ls']);
    return /io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok/.test(plugins);
  }

  /** Runs ctr against this containerd in the CRI's namespace; resolves with its stdout. */
  async ctr(args: readonly string[]): Promise<string> {
    try {
      const { stdout } = await run(toolPath('ctr'), ['--address', this.socket, '-n', criNamespace, ...args], {
        maxBuffer: 16 << 20,
      });
      return stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new Error(`ctr ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, { cause: err });
    }
  }

  /**
   * Imports an OCI image archive (unpacked for the CRI's snapshotter) and resolves with the
   * image names it held; fails if it held none, as the kubelet could not use it by name.
   */
  async importImage(ociTarPath: string): Promise<string[]> {
    await this.ctr(['images', 'import', '--snapshotter', snapshotter, ociTarPath]);
    return this.imagesIn(ociTarPath);
  }

  private async imagesIn(ociTarPath: string): Promise<string[]> {
    const { stdout } = await run('tar', ['-xOf', ociTarPath, 'index.json']);
    const index = JSON.parse(stdout) as { manifests?: { annotations?: Record<string, string> }[] };
    const names = (index.manifests ?? [])
      .map(
        (m) =>
          m.annotations?.['io.containerd.image.name'] ?? m.annotations?.['org.opencontainers.image.ref.name'],
      )
      .filter((name): name is string => !!name && name.includes('/'));
    if (names.length === 0)
      throw new Error(`${ociTarPath}: the archive names no image (index.json annotations)`);
    const listed = await this.ctr(['images', 'ls', '-q']);
    const missing = names.filter((name) => !listed.split('\n').includes(name));
    if (missing.length > 0)
      throw new Error(`${ociTarPath}: imported, but containerd lists no ${missing.join(', ')}`);
    return names;
  }
}

/** overlayfs works on this machine's ext4 as root; it is what the CRI unpacks images for. */
const snapshotter = 'overlayfs';

function containerdConfig(dir: string, socket: string, cniConfDir: string): string {
  return `# Written by test/cluster/containerd.ts (config version 3, containerd v2.2).
version = 3
root = '${dir}/root'
state = '${dir}/state'
temp = '${dir}/tmp'
# Nothing from /etc/containerd: this node is configured by this file alone.
imports = []
# Plugins that would keep state outside the bed's directory or are of no use here.
disabled_plugins = [
  'io.containerd.nri.v1.nri',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.blockfile',
  'io.containerd.snapshotter.v1.erofs',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
]

[grpc]
  address = '${socket}'

[ttrpc]
  address = '${socket}.ttrpc'

[debug]
  address = ''
  level = 'info'

[metrics]
  address = ''

[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = '${dir}/opt'

  [plugins.'io.containerd.cri.v1.images']
    snapshotter = '${snapshotter}'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = '${sandboxImage}'

  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false
    enable_cdi = false
    restrict_oom_score_adj = true
    # The pods' network namespaces are mounted under the state directory, not /run/netns.
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = '/usr/sbin/runc'
          # runc's state beside containerd's, not in /run/containerd/runc.
          Root = '${dir}/runc'
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/usr/lib/cni']
      conf_dir = '${cniConfDir}'
      max_conf_num = 1

  [plugins.'io.containerd.grpc.v1.cri']
    disable_tcp_service = true
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
`;
}
