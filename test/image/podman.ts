// podman with the project's own configuration (written under .tools/containers/
// by tools/image/podman-env.sh, which `make tools` and `make image` source):
// the same store `make image` builds into, and the flags this kind of machine
// needs (runc, lowered rlimits, never a pull).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../bed/tools.ts';

const containersDir = path.join(repoRoot, '.tools', 'containers');

/** The image the tests run: what `make image` builds unless FERRY_IMAGE names another. */
export const ferryImage = process.env.FERRY_IMAGE ?? 'localhost/ferry/ferry:dev';

export const runFlags = [
  '--runtime',
  'runc',
  '--ulimit',
  'nofile=1024:1024',
  '--ulimit',
  'nproc=1024:1024',
  '--pull=never',
];

export interface PodmanResult {
  code: number;
  stdout: string;
  stderr: string;
}

function podmanEnv(): NodeJS.ProcessEnv {
  const conf = path.join(containersDir, 'containers.conf');
  if (!existsSync(conf)) {
    throw new Error(`${conf} not found: run 'make tools' (tools/image/podman-env.sh writes it)`);
  }
  return {
    ...process.env,
    CONTAINERS_CONF: conf,
    CONTAINERS_STORAGE_CONF: path.join(containersDir, 'storage.conf'),
    CONTAINERS_REGISTRIES_CONF: path.join(containersDir, 'registries.conf'),
  };
}

/** Runs podman; resolves with its exit code and output (a non-zero exit is a result, not an error). */
export function podman(args: string[], timeoutMs = 60_000): Promise<PodmanResult> {
  return new Promise((resolve, reject) => {
    execFile('podman', args, { env: podmanEnv(), timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      if (code === null) reject(new Error(`podman ${args.join(' ')}: ${err!.message}\n${stderr}`));
      else resolve({ code, stdout, stderr });
    });
  });
}

/** Fails with what to run when the image is not in the project's store. */
export async function requireImage(image: string): Promise<void> {
  const { code } = await podman(['image', 'exists', image]);
  if (code !== 0) throw new Error(`image ${image} not found in the project's podman store: run 'make image'`);
}
