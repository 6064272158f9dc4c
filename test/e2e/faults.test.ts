// Faults a real cluster deals a job: a worker pod deleted with
// `--grace-period=0 --force` mid-copy, and the leading operator pod deleted
// mid-job. Each job must still end Complete with the destination exactly the
// source and exact counters; after the leader's loss the new leader re-sends
// only the tasks the ledger does not hold as SUCCEEDED.
import { labels } from '../../api/names.ts';
import { kubectl } from './support/cli.ts';
import { podsWithNodeAndImage } from './support/ferryCluster.ts';
import { expectCopiedWhole, jobFile, readJob, startPacedJob } from './support/world.ts';

const file = jobFile('e2e-faults');
const { e2e, namespace } = file;
/** About 16 objects a second: a fault finds the job mid-way. */
const pace = { count: 160, size: 2048, bandwidth: '32Ki', midway: 20 };

async function podNames(ns: string, selector: string): Promise<string[]> {
  const { stdout } = await kubectl(e2e.kubeconfig, [
    'get',
    'pods',
    '-n',
    ns,
    '-l',
    selector,
    '--field-selector=status.phase=Running',
    '-o',
    'jsonpath={.items[*].metadata.name}',
  ]);
  return stdout.split(/\s+/).filter(Boolean);
}

it('completes after its source worker pod is force-deleted mid-copy', async () => {
  const { contents, uid } = await startPacedJob(file, 'pod-forced', pace);
  const workers = await podsWithNodeAndImage(e2e.kubeconfig, namespace, `${labels.jobUid}=${uid}`);
  process.stderr.write(`e2e: the job's worker pods:\n${workers}\n`);
  const [pod] = await podNames(namespace, `${labels.jobUid}=${uid},${labels.role}=source`);
  expect(pod).toBeDefined();
  await kubectl(e2e.kubeconfig, ['delete', 'pod', pod!, '-n', namespace, '--grace-period=0', '--force']);
  await expectCopiedWhole(file, 'pod-forced', contents);
});

it('completes after the leading operator pod is deleted, re-sending only the incomplete tasks', async () => {
  const { contents } = await startPacedJob(file, 'leader-lost', pace);
  const lease = JSON.parse(
    (
      await kubectl(e2e.kubeconfig, [
        'get',
        'lease',
        `${e2e.release}-leader`,
        '-n',
        e2e.releaseNamespace,
        '-o',
        'json',
      ])
    ).stdout,
  ) as { spec: { holderIdentity: string } };
  const leader = lease.spec.holderIdentity;
  const succeededBefore = (await readJob(e2e, namespace, 'leader-lost')).status!.tasks!.succeeded!;
  await kubectl(e2e.kubeconfig, ['delete', 'pod', leader, '-n', e2e.releaseNamespace, '--wait=false']);
  await expectCopiedWhole(file, 'leader-lost', contents);

  // The new leader's resume: what it re-sent and what the ledger already held as SUCCEEDED.
  const [next] = await podNames(e2e.releaseNamespace, 'app.kubernetes.io/component=operator');
  const logs = await Promise.all(
    (await podNames(e2e.releaseNamespace, 'app.kubernetes.io/component=operator')).map(
      async (pod) => (await kubectl(e2e.kubeconfig, ['logs', pod, '-n', e2e.releaseNamespace])).stdout,
    ),
  );
  expect(next).toBeDefined();
  const sent = logs
    .flatMap((l) => l.split('\n'))
    .filter((line) => line.includes('"tasks sent"') && line.includes('leader-lost'))
    .map((line) => JSON.parse(line) as { resent: number; succeeded: number });
  expect(sent.length).toBeGreaterThan(0);
  const resume = sent[sent.length - 1]!;
  expect(resume.resent + resume.succeeded).toBe(pace.count);
  expect(resume.succeeded).toBeGreaterThanOrEqual(succeededBefore);
});
