// The release's life as a user lives it: `helm upgrade` while a job runs
// (the job goes on and completes whole), then `helm uninstall`, which must
// leave the CRD (and the users' ReplicationJobs) and nothing else of the
// release. Runs last (sequencer.js): it removes the release the other files use.
import path from 'node:path';
import { repoRoot } from '../bed/tools.ts';
import { waitFor } from '../support/wait.ts';
import { helm, kubectl } from './support/cli.ts';
import { localImageValues } from './support/ferryCluster.ts';
import { expectCopiedWhole, jobFile, startPacedJob } from './support/world.ts';

const file = jobFile('e2e-lifecycle');
const { e2e, namespace } = file;

it('keeps a running job going through helm upgrade', async () => {
  const { contents } = await startPacedJob(file, 'through-upgrade', {
    count: 120,
    size: 2048,
    bandwidth: '32Ki',
    midway: 10,
  });
  // A changed value rolls the operator's pods.
  await helm(e2e.kubeconfig, [
    'upgrade',
    e2e.release,
    path.join(repoRoot, 'helm', 'ferry'),
    '-n',
    e2e.releaseNamespace,
    '--reuse-values',
    ...localImageValues(),
    '--set',
    'operator.logLevel=debug',
    '--wait',
    '--timeout',
    '5m',
  ]);
  await expectCopiedWhole(file, 'through-upgrade', contents);
});

/** Every object labelled as the release's, in any namespace (PersistentVolumeClaims are data: kept, see the chart README). */
async function releaseObjects(): Promise<string> {
  const { stdout } = await kubectl(e2e.kubeconfig, [
    'get',
    'all,configmaps,secrets,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings,networkpolicies,poddisruptionbudgets,leases',
    '-A',
    '-l',
    `app.kubernetes.io/instance=${e2e.release}`,
    '-o',
    'name',
  ]);
  return stdout.trim();
}

it('helm uninstall leaves the CRD and the users’ jobs, and nothing else of the release', async () => {
  await helm(e2e.kubeconfig, [
    'uninstall',
    e2e.release,
    '-n',
    e2e.releaseNamespace,
    '--wait',
    '--timeout',
    '5m',
  ]);
  const crd = await kubectl(e2e.kubeconfig, ['get', 'crd', 'replicationjobs.ferry.dev', '-o', 'name']);
  expect(crd.stdout.trim()).toBe('customresourcedefinition.apiextensions.k8s.io/replicationjobs.ferry.dev');
  expect((await kubectl(e2e.kubeconfig, ['get', 'rj', '-n', namespace, '-o', 'name'])).stdout).toMatch(
    /through-upgrade/,
  );
  // helm's --wait covers what it deletes, not the pods their controllers then end (graceful, up to 30 s).
  let left = '';
  await waitFor(
    'nothing of the release to be left',
    async () => (left = await releaseObjects()) === '',
    90_000,
  ).catch(() => undefined);
  expect(left).toBe('');
});
