// `helm template` of helm/ferry for the chart's unit tests: offline, with
// Helm's config and cache kept out of $HOME.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadAll } from 'js-yaml';
import { repoRoot, toolPath } from '../../bed/tools.ts';

const run = promisify(execFile);
export const chartDir = path.join(repoRoot, 'helm', 'ferry');
export const ciValues = (name: string) => path.join(chartDir, 'ci', `${name}-values.yaml`);

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** The manifests of `helm template ferry helm/ferry -n <namespace> <extra...>`. */
export async function renderChart(namespace: string, extra: string[] = []): Promise<Manifest[]> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'ferry-helm-'));
  try {
    const env = {
      ...process.env,
      HELM_CONFIG_HOME: path.join(home, 'config'),
      HELM_CACHE_HOME: path.join(home, 'cache'),
      HELM_DATA_HOME: path.join(home, 'data'),
    };
    const { stdout } = await run(
      toolPath('helm'),
      ['template', 'ferry', chartDir, '--namespace', namespace, ...extra],
      { env, maxBuffer: 32 * 1024 * 1024, encoding: 'utf8' },
    );
    return (loadAll(stdout) as (Manifest | null)[]).filter((m): m is Manifest => !!m);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** The one manifest of a kind (and name). */
export function findManifest<T>(manifests: Manifest[], kind: string, name?: string): T {
  const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  if (found.length !== 1)
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as T;
}
