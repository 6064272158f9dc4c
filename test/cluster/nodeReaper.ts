// The last sweep of a cluster tier's teardown, and what its watchdog runs when
// the owner died: whatever the node left outside the bed's process groups.
//
// containerd's shims start their own process groups (so a containerd restart
// does not end the pods), and container processes are the shims' children in
// their own namespaces; the bed's usual kill of its process groups reaches
// none of them. containerd and the kubelet also mount (overlay root
// filesystems, the pods' network namespaces, projected volumes) under the
// bed's directory, which must be unmounted before it can be removed.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import {
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { killServerGroups } from '../bed/pidFiles.ts';
import { cniNetworkName } from './clusterNetwork.ts';
import { deletePodBridge } from './podBridge.ts';
import { reapServiceNetwork } from './serviceNetwork.ts';

const run = promisify(execFile);

export interface ReapReport {
  /** Processes killed: shims of this bed's containerd and everything they started. */
  killed: number;
  /** Mount points under the bed's directory that were unmounted. */
  unmounted: number;
}

/**
 * Kills the node's leftover processes, unmounts, removes the service network's rules, deletes
 * the bridge and host-side CNI state, and restores IPv4 forwarding as saveIpForwarding found it.
 */
export async function reapNode(bedDir: string): Promise<ReapReport> {
  const tasks = taskIds(bedDir);
  const killed = await killContainerProcesses(bedDir);
  const unmounted = await unmountUnder(bedDir);
  removeHostState(bedDir);
  removeTaskLeftovers(bedDir, tasks);
  await removeKubeletChains();
  await reapServiceNetwork(); // kube-proxy's and the guard's nftables tables, the Service route
  await deletePodBridge();
  restoreIpForwarding(bedDir);
  return { killed, unmounted };
}

/**
 * Reaps a tier whose owner died without a teardown: kills the bed's server process groups
 * (their pids under `bedDir/pids`), reaps the node, and removes the directory unless it is kept.
 * Run by the tier's watchdog, and by the next tier's start when the watchdog died too.
 */
export async function reapAbandonedTier(bedDir: string): Promise<void> {
  killServerGroups(path.join(bedDir, 'pids'));
  await reapNode(bedDir);
  if (!existsSync(path.join(bedDir, 'keep'))) rmSync(bedDir, { recursive: true, force: true });
  else rmSync(path.join(bedDir, 'pids'), { recursive: true, force: true });
}

const ipForwardFile = '/proc/sys/net/ipv4/ip_forward';

/**
 * Records whether the host forwards IPv4 before the tier starts: the CNI bridge plugin turns
 * forwarding on for a gateway bridge (isGateway), and the host is left as it was found.
 */
export function saveIpForwarding(bedDir: string): void {
  writeFileSync(path.join(bedDir, 'ip_forward'), readFileSync(ipForwardFile, 'utf8'));
}

function restoreIpForwarding(bedDir: string): void {
  const saved = path.join(bedDir, 'ip_forward');
  if (existsSync(saved)) writeFileSync(ipForwardFile, readFileSync(saved, 'utf8'));
}

interface ProcessInfo {
  pid: number;
  ppid: number;
  cmdline: string;
}

function processes(): ProcessInfo[] {
  const list: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // The command name (field 2) is parenthesised and may hold spaces: ppid follows its ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      list.push({ pid, ppid, cmdline });
    } catch {
      // exited while we looked
    }
  }
  return list;
}

/** The shims serving this bed's containerd (their -address is its socket) and all their descendants. */
function containerProcessTree(bedDir: string): number[] {
  const all = processes();
  const socketPrefix = path.join(bedDir, 'containerd') + path.sep;
  const shims = all.filter((p) => p.cmdline.includes('containerd-shim') && p.cmdline.includes(socketPrefix));
  const tree = new Set(shims.map((p) => p.pid));
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) {
      if (!tree.has(p.pid) && tree.has(p.ppid)) {
        tree.add(p.pid);
        grew = true;
      }
    }
  }
  return [...tree];
}

async function killContainerProcesses(bedDir: string): Promise<number> {
  let killed = 0;
  for (let round = 0; round < 20; round++) {
    const pids = containerProcessTree(bedDir);
    if (pids.length === 0) return killed;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `processes of the node in ${bedDir} survive SIGKILL: ${containerProcessTree(bedDir).join(', ')}`,
  );
}

/** Mount points at or under `dir`, deepest first (mountinfo escapes spaces as \040). */
function mountsUnder(dir: string): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((p) => p === dir || p.startsWith(dir + path.sep));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

async function unmountUnder(dir: string): Promise<number> {
  let unmounted = 0;
  // A mount point can be stacked more than once; repeat until none is left.
  for (let round = 0; round < 10; round++) {
    const points = mountsUnder(dir);
    if (points.length === 0) return unmounted;
    for (const point of points) {
      try {
        await run('umount', [point]);
      } catch {
        // busy (a process still holds it open): detach it, the kernel frees it when released
        await run('umount', ['-l', point]).catch(() => {});
      }
      unmounted++;
    }
  }
  throw new Error(`mounts under ${dir} survive umount: ${mountsUnder(dir).join(', ')}`);
}

/**
 * What the node keeps outside the bed's directory by design of the upstream code: the
 * kubelet's /var/log/containers links into its pod logs, and libcni's cached results for the
 * bed's network (both removed as pods go; left only by a node that was killed).
 */
function removeHostState(bedDir: string): void {
  const linkDir = '/var/log/containers';
  for (const link of existsSync(linkDir) ? readdirSync(linkDir) : []) {
    const file = path.join(linkDir, link);
    try {
      if (readlinkSync(file).startsWith(bedDir + path.sep)) rmSync(file, { force: true });
    } catch {
      // not a link
    }
  }
  const resultsDir = '/var/lib/cni/results';
  for (const result of existsSync(resultsDir) ? readdirSync(resultsDir) : []) {
    if (result.startsWith(`${cniNetworkName}-`)) rmSync(path.join(resultsDir, result), { force: true });
  }
}

/** The containerd tasks (pod sandboxes and containers) this bed's containerd still knows of. */
function taskIds(bedDir: string): string[] {
  const dir = path.join(bedDir, 'containerd', 'state', 'io.containerd.runtime.v2.task', 'k8s.io');
  return existsSync(dir) ? readdirSync(dir) : [];
}

/**
 * What a killed task leaves outside the bed's directory: its shim's socket in
 * /run/containerd/s (named by a hash of containerd's address, namespace and task, as the shim
 * names it) and runc's cgroups, /k8s.io/<task> in each hierarchy (containerd's parent when the
 * kubelet gives none, as without QoS cgroups). A task that ended cleanly left neither.
 */
function removeTaskLeftovers(bedDir: string, tasks: readonly string[]): void {
  const address = path.join(bedDir, 'containerd', 'containerd.sock');
  const hierarchies = existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : [];
  for (const task of tasks) {
    const hash = createHash('sha256')
      .update(path.join(address, 'k8s.io', task))
      .digest('hex');
    rmSync(path.join('/run/containerd/s', hash), { force: true });
    // runc's state of a pod sandbox (containerd's sandbox controller keeps runc's default root).
    rmSync(path.join('/run/containerd/runc/k8s.io', task), { recursive: true, force: true });
    // libcni's cached result of containerd's own loopback network for the sandbox.
    rmSync(path.join('/var/lib/cni/results', `cni-loopback-${task}-lo`), { force: true });
    for (const hierarchy of hierarchies) removeCgroup(path.join('/sys/fs/cgroup', hierarchy, 'k8s.io', task));
  }
  // containerd's parent cgroup, once no task of any node is in it (rmdir refuses otherwise).
  for (const hierarchy of hierarchies) removeCgroup(path.join('/sys/fs/cgroup', hierarchy, 'k8s.io'));
  // Directories the node's components create on first use, once nothing is left in them.
  for (const dir of [
    '/run/containerd/s',
    '/run/containerd/runc/k8s.io',
    '/run/containerd/runc',
    '/run/containerd/fifo',
    '/run/containerd',
    '/var/log/containers',
    '/var/lib/cni/results',
    '/var/lib/cni',
  ]) {
    removeIfEmpty(dir);
  }
}

function removeCgroup(dir: string): void {
  try {
    rmdirSync(dir); // a cgroup is removed with rmdir, once it holds no process
  } catch {
    // absent, or the hierarchy is a file
  }
}

function removeIfEmpty(dir: string): void {
  try {
    if (readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    // absent
  }
}

/**
 * What a cluster tier in `bedDir` left on this machine; empty after a clean teardown: processes
 * naming the directory or in containerd's cgroups, mounts under it, the directory itself, the
 * bridge, the kubelet's log links and iptables chains, and libcni's results.
 */
export async function nodeLeftovers(bedDir: string, bridgePresent: boolean): Promise<string[]> {
  const left: string[] = [];
  for (const p of processes()) {
    if (p.pid === process.pid) continue;
    if (p.cmdline.includes(bedDir) || inContainerdCgroup(p.pid))
      left.push(`process ${p.pid}: ${p.cmdline.trim()}`);
  }
  for (const point of mountsUnder(bedDir)) left.push(`mount ${point}`);
  if (existsSync(bedDir)) left.push(`directory ${bedDir}`);
  if (bridgePresent) left.push('bridge ferry0');
  for (const link of existsSync('/var/log/containers') ? readdirSync('/var/log/containers') : []) {
    left.push(`/var/log/containers/${link}`);
  }
  const resultsDir = '/var/lib/cni/results';
  for (const result of existsSync(resultsDir) ? readdirSync(resultsDir) : [])
    left.push(`${resultsDir}/${result}`);
  for (const iptables of ['iptables', 'ip6tables']) {
    const rules = (await run(`${iptables}-save`, [])).stdout;
    for (const chain of new Set(rules.match(/KUBE-(FIREWALL|KUBELET-CANARY|IPTABLES-HINT)/g) ?? [])) {
      left.push(`${iptables} chain ${chain}`);
    }
  }
  return left;
}

function inContainerdCgroup(pid: number): boolean {
  try {
    return /:\/k8s\.io\//.test(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * The kubelet's iptables chains (KUBE-FIREWALL, hooked into INPUT and OUTPUT, its canaries and
 * the hint for kube-proxy), which it creates at start and never removes. One tier runs per
 * machine, so the chains are this node's. Each command fails harmlessly if its chain is gone.
 */
async function removeKubeletChains(): Promise<void> {
  for (const iptables of ['iptables', 'ip6tables']) {
    const commands = [
      ['-t', 'filter', '-D', 'INPUT', '-j', 'KUBE-FIREWALL'],
      ['-t', 'filter', '-D', 'OUTPUT', '-j', 'KUBE-FIREWALL'],
      ['-t', 'filter', '-F', 'KUBE-FIREWALL'],
      ['-t', 'filter', '-X', 'KUBE-FIREWALL'],
      ['-t', 'mangle', '-X', 'KUBE-IPTABLES-HINT'],
      ...['filter', 'nat', 'mangle'].map((table) => ['-t', table, '-X', 'KUBE-KUBELET-CANARY']),
    ];
    for (const args of commands) await run(iptables, ['-w', '5', ...args]).catch(() => {});
  }
}
