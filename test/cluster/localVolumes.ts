// Static PersistentVolumes for filesystem stores and the chart's bundled
// servers: `local` volumes on directories under the bed's directory, in a
// StorageClass `ferry-local` with no provisioner. WaitForFirstConsumer lets
// kube-scheduler bind a claim only once its pod is placed, as with real local
// disks; Retain, because nothing here could delete or recycle a volume.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { toolPath } from '../bed/tools.ts';

const run = promisify(execFile);

export const localStorageClass = 'ferry-local';

/** The UID the restricted pods run as: a fresh volume's directory is theirs. */
const restrictedUid = 65532;

export interface LocalVolumeOptions {
  /** Each volume's advertised capacity (a claim binds only to a volume at least its size). */
  capacity?: string;
  /** The owner of each volume's directory; 65532, the restricted pods' UID, by default. */
  ownerUid?: number;
}

export interface LocalVolume {
  name: string;
  /** The directory on the host behind the volume. */
  hostPath: string;
}

/**
 * Creates the StorageClass (if missing) and `count` volumes named `<storageClass>-<n>`
 * on `nodeName`, each on a fresh directory `volumesDir/<name>`.
 */
export async function createLocalVolumes(
  kubeconfig: string,
  nodeName: string,
  volumesDir: string,
  count: number,
  storageClass = localStorageClass,
  options: LocalVolumeOptions = {},
): Promise<LocalVolume[]> {
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`volume count must be a positive integer, got ${count}`);
  const uid = options.ownerUid ?? restrictedUid;
  const volumes: LocalVolume[] = [];
  const manifests: object[] = [storageClassManifest(storageClass)];
  for (let n = 0; n < count; n++) {
    const name = `${storageClass}-${n}`;
    const hostPath = path.join(volumesDir, name);
    mkdirSync(hostPath, { recursive: true, mode: 0o775 });
    chownSync(hostPath, uid, uid);
    volumes.push({ name, hostPath });
    manifests.push(volumeManifest(name, hostPath, nodeName, storageClass, options.capacity ?? '20Gi'));
  }
  const file = path.join(volumesDir, `${storageClass}-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }, null, 2));
  try {
    await run(toolPath('kubectl'), ['--kubeconfig', kubeconfig, 'apply', '-f', file]);
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`creating ${count} volumes of ${storageClass} failed: ${e.stderr?.trim() || e.message}`, {
      cause: err,
    });
  }
  return volumes;
}

function storageClassManifest(name: string): object {
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name },
    provisioner: 'kubernetes.io/no-provisioner',
    volumeBindingMode: 'WaitForFirstConsumer',
    reclaimPolicy: 'Retain',
  };
}

function volumeManifest(
  name: string,
  hostPath: string,
  nodeName: string,
  storageClass: string,
  capacity: string,
): object {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name },
    spec: {
      capacity: { storage: capacity },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: storageClass,
      volumeMode: 'Filesystem',
      local: { path: hostPath },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [nodeName] }] },
          ],
        },
      },
    },
  };
}
