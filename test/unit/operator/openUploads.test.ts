// What the finalizer cannot abort of a deleted job's open uploads is said, not dropped.
import type * as k8s from '@kubernetes/client-node';
import { abortOpenUploads } from '../../../operator/external/openUploads.ts';
import { job } from '../../support/fixtures.ts';

const open = (key: string) => ({ uploadId: `u-${key}`, key, state: 'open' as const, size: 1 });
const noKube = {} as k8s.CoreV1Api;

describe('aborting the uploads a deleted job left open', () => {
  it('does nothing when none is open', async () => {
    expect(await abortOpenUploads(job('copy'), [], noKube)).toEqual({ aborted: 0, left: [] });
  });

  it('leaves a filesystem destination to the upload-abort pod, which mounts its volume', async () => {
    const j = job('copy');
    j.spec.destination = { filesystem: { claimName: 'archive' } };
    expect(await abortOpenUploads(j, [open('a'), open('b')], noKube)).toEqual({ aborted: 0, left: [] });
  });

  it('names an unreachable destination as the reason its uploads are left open', async () => {
    const unreachable = {
      readNamespacedSecret: () => Promise.reject(new Error('secrets "dst-creds" not found')),
    } as unknown as k8s.CoreV1Api;
    expect(await abortOpenUploads(job('copy'), [open('a'), open('b')], unreachable)).toEqual({
      aborted: 0,
      left: [{ count: 2, reason: 'destination not reachable: secrets "dst-creds" not found' }],
    });
  });
});
