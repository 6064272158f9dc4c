// A container's persistentVolumeClaim and secret volumes, the kubelet's way as
// far as a local process allows: each claim is a host directory
// (`<volumeDir>/<namespace>/<claimName>`, created empty on first use, as a
// freshly provisioned volume), and a pod whose claim does not exist in the API
// does not start (its container waits in ContainerCreating, as the kubelet's
// FailedMount keeps it). A secret volume is a directory of the pod's own
// (`<volumeDir>/.secrets/<namespace>/<podUid>/<volumeName>`, a name no claim
// directory can have), written afresh from the Secret each time the container
// starts (its keys, or the `items` it names, as files) and removed with the
// pod; a missing Secret or key keeps the pod waiting, unless marked optional.
//
// A local process is not given the pod's mounts, so a mount path such as
// /data/store does not exist for it. Instead the runner rewrites the
// container's mount paths to their host directories wherever the pod hands a
// path to its process: the values of its environment variables (which is how
// the Ferry worker learns its store's directory, inside the FERRY_STORE JSON),
// its command and its args. A path is rewritten only as a whole path prefix
// ("/data/store" and "/data/store/x", not "/data/storex"), in one pass (so a
// host directory is never rewritten again).
//
// readOnly mounts are made read-only where the machine allows it: the process
// then starts in a private mount namespace (`unshare`, as root or through an
// unprivileged user namespace) in which each read-only host directory is
// bind-mounted read-only onto itself, so a write fails with EROFS as in a pod.
// Where that is not possible, readOnly is not enforced (the runner logs it).
//
// Limitations, by design:
// - a path the program builds itself or reads from a file is not rewritten;
// - a read-only mount covers its host directory for the whole process: a
//   read-write mount of a directory inside it (or of the same directory at
//   another path) is read-only too, stricter than a kubelet;
// - other volume types (emptyDir, configMap, projected) are still ignored;
// - a secret volume's files are not updated while the container runs.
// See docs/adr/0005-filesystem-stores-through-worker-listings.md.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { isNotFound, readSecret } from './env.ts';

/** The kubelet's FailedMount: the container cannot start until its volumes can be mounted. */
export class VolumeMountError extends Error {
  override name = 'VolumeMountError';
}

/** A volume mounted into the container: where the container sees it, and the host directory behind it. */
export interface HostMount {
  /** What is mounted, for the pod's log: `claim data`, `secret creds`. */
  volume: string;
  mountPath: string;
  hostPath: string;
  readOnly: boolean;
}

/** Characters a host directory may not contain: it is spliced into JSON and shell-like values. */
const unsafeHostPath = /["\\\s'$`]/;

/** Checks that `dir` can stand in for mount paths inside any env value (JSON included). */
export function checkVolumeDir(dir: string): void {
  if (!path.isAbsolute(dir)) throw new Error(`the pod runner's volume directory must be absolute: ${dir}`);
  if (unsafeHostPath.test(dir))
    throw new Error(
      `the pod runner's volume directory ${JSON.stringify(dir)} contains a quote, backslash, space or $: ` +
        'it could not be spliced into environment values safely',
    );
}

/** The host directory holding a claim's contents. */
export function claimDirectory(volumeDir: string, namespace: string, claimName: string): string {
  return path.join(volumeDir, path.basename(namespace), path.basename(claimName));
}

/** The host directory holding a pod's secret volumes (removed with the pod). */
export function podSecretsDirectory(volumeDir: string, namespace: string, podUid: string): string {
  return path.join(volumeDir, '.secrets', path.basename(namespace), path.basename(podUid));
}

/**
 * Writes a secret volume's files into `dir`: the Secret's keys, or the items it
 * names. A description of what is missing, or undefined when it is written.
 */
async function writeSecretVolume(
  core: k8s.CoreV1Api,
  namespace: string,
  source: k8s.V1SecretVolumeSource,
  dir: string,
): Promise<string | undefined> {
  const data = await readSecret(core, namespace, source.secretName!);
  if (!data) return source.optional ? undefined : `secret "${source.secretName}" not found`;
  const files = source.items
    ? source.items.map((item) => ({ key: item.key, path: item.path, mode: item.mode }))
    : Object.keys(data).map((key) => ({ key, path: key, mode: undefined }));
  const missing = files.filter((f) => !(f.key in data));
  if (missing.length > 0 && !source.optional)
    return `couldn't find key ${missing[0]!.key} in Secret ${namespace}/${source.secretName}`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const file of files) {
    if (!(file.key in data)) continue;
    if (file.path.split('/').includes('..') || path.isAbsolute(file.path))
      throw new VolumeMountError(
        `item path ${JSON.stringify(file.path)} of secret ${source.secretName} is not allowed`,
      );
    const target = path.join(dir, file.path);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, data[file.key]!);
    // The owner keeps read access whatever the mode: the process runs as this user, not as fsGroup.
    chmodSync(target, (file.mode ?? source.defaultMode ?? 0o644) | 0o400);
  }
  return undefined;
}

/**
 * The container's persistentVolumeClaim and secret mounts, their host
 * directories created (and a secret's files written). Throws VolumeMountError
 * (the container waits) when a claim or Secret does not exist.
 */
export async function mountVolumes(
  core: k8s.CoreV1Api,
  pod: k8s.V1Pod,
  container: k8s.V1Container,
  volumeDir: string,
): Promise<HostMount[]> {
  const namespace = pod.metadata!.namespace!;
  const volumes = new Map((pod.spec?.volumes ?? []).map((v) => [v.name, v]));
  const mounts: HostMount[] = [];
  const missing: string[] = [];
  const missingSecrets: string[] = [];
  for (const mount of container.volumeMounts ?? []) {
    const secret = volumes.get(mount.name)?.secret;
    if (secret) {
      const hostDir = path.join(
        podSecretsDirectory(volumeDir, namespace, pod.metadata!.uid!),
        path.basename(mount.name),
      );
      const missingSecret = await writeSecretVolume(core, namespace, secret, hostDir);
      if (missingSecret) missingSecrets.push(missingSecret);
      else
        mounts.push({
          volume: `secret ${secret.secretName}`,
          mountPath: path.posix.normalize(mount.mountPath),
          hostPath: hostDir,
          readOnly: true, // as the kubelet mounts secret volumes
        });
      continue;
    }
    const claim = volumes.get(mount.name)?.persistentVolumeClaim;
    if (!claim) continue; // neither a claim nor a secret: ignored by the runner
    try {
      await core.readNamespacedPersistentVolumeClaim({ name: claim.claimName, namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      missing.push(claim.claimName);
      continue;
    }
    const subPath = mount.subPath ?? '';
    if (subPath.split('/').includes('..') || path.isAbsolute(subPath))
      throw new VolumeMountError(
        `subPath ${JSON.stringify(subPath)} of volume "${mount.name}" is not allowed`,
      );
    const hostPath = path.join(claimDirectory(volumeDir, namespace, claim.claimName), subPath);
    mkdirSync(hostPath, { recursive: true });
    mounts.push({
      volume: `claim ${claim.claimName}`,
      mountPath: path.posix.normalize(mount.mountPath),
      hostPath,
      readOnly: Boolean(mount.readOnly || claim.readOnly),
    });
  }
  if (missing.length > 0 || missingSecrets.length > 0) {
    throw new VolumeMountError(
      `Unable to attach or mount volumes: ${[
        ...missing.map((c) => `persistentvolumeclaim "${c}" not found`),
        ...missingSecrets,
      ].join(', ')}`,
    );
  }
  return mounts;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Rewrites each mount path in `value` to its host directory: where it stands
 * as a whole path (preceded by the start, a quote, "=", ":", ",", ";", a
 * bracket or whitespace; followed by the end, "/", a quote, ":", ",", ";", a
 * bracket or whitespace). Longer mount paths win; one pass.
 */
export function rewriteMountPaths(value: string, mounts: readonly HostMount[]): string {
  if (mounts.length === 0) return value;
  const byLength = [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length);
  const hostPaths = new Map(byLength.map((m) => [m.mountPath, m.hostPath]));
  const pattern = new RegExp(
    `(^|[\\s"'=:,;(\\[{])(${byLength.map((m) => escapeRegExp(m.mountPath)).join('|')})(?=$|[/\\s"':,;)\\]}])`,
    'g',
  );
  return value.replace(
    pattern,
    (_match, lead: string, mountPath: string) => lead + hostPaths.get(mountPath)!,
  );
}

// Bind-mounts each of its N directory arguments read-only onto itself, then
// runs the rest of its arguments (in the same process, so signals reach it).
const readOnlyScript = [
  'set -e',
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do',
  '  mount --bind "$1" "$1"',
  '  mount -o remount,bind,ro "$1"',
  '  shift; n=$((n - 1))',
  'done',
  'exec "$@"',
].join('\n');

/**
 * The `unshare` options that give a process a private mount namespace in
 * which read-only bind mounts work here (as root: a mount namespace; else
 * also a user namespace), or undefined when none do: found by trying.
 */
export function probeReadOnlyMounts(): string[] | undefined {
  const candidates = [
    ...(process.getuid?.() === 0 ? [['--mount', '--propagation', 'private']] : []),
    ['--user', '--map-root-user', '--mount', '--propagation', 'private'],
  ];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-readonly-probe-'));
  try {
    for (const flags of candidates) {
      const { command, args } = withReadOnlyMounts(
        // Succeeds only when the write is refused.
        { command: 'sh', args: ['-c', '! touch "$0/probe" 2>/dev/null', dir] },
        [dir],
        flags,
      );
      const result = spawnSync(command, args, { stdio: 'ignore', timeout: 10_000 });
      if (result.status === 0) return flags;
    }
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `entry` run with `readOnlyDirs` read-only, through `unshare` with `unshareFlags`. */
export function withReadOnlyMounts(
  entry: { command: string; args: string[] },
  readOnlyDirs: readonly string[],
  unshareFlags: readonly string[],
): { command: string; args: string[] } {
  if (readOnlyDirs.length === 0) return entry;
  return {
    command: 'unshare',
    args: [
      ...unshareFlags,
      'sh',
      '-c',
      readOnlyScript,
      'ferry-readonly',
      String(readOnlyDirs.length),
      ...readOnlyDirs,
      entry.command,
      ...entry.args,
    ],
  };
}
