// Where the pinned upstream binaries live (built by `make tools`).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export type ToolName =
  | 'etcd'
  | 'kube-apiserver'
  | 'kubectl'
  | 'nats-server'
  | 'versitygw'
  | 'helm'
  | 'node'
  | 'rclone'
  // the cluster tier's node (test/cluster/)
  | 'kubelet'
  | 'kube-scheduler'
  | 'kube-controller-manager'
  | 'containerd'
  | 'ctr'
  // the cluster tier's service network (test/cluster/)
  | 'kube-proxy'
  | 'coredns';

export function toolPath(name: ToolName): string {
  const file = path.join(process.env.FERRY_TOOLS_BIN ?? path.join(repoRoot, '.tools', 'bin'), name);
  // rclone is the benchmarks' peer tool, built apart from what the tests need.
  const builtBy = name === 'rclone' ? 'make bench-tools' : 'make tools';
  if (!existsSync(file)) throw new Error(`${name} not found at ${file}: run '${builtBy}' first`);
  return file;
}
