// Which worker pods are out of date. A worker reads its settings once, when it
// starts: its spec's env (concurrency, bandwidth share, store, log level), its
// image, and the NATS access in the job's worker Secret (user and password as
// env, certificates as files it reads at connect). A pod started before any of
// them changed keeps running with the old ones — after a NATS credential
// rotation it cannot reconnect once the old credential is revoked, and the job
// stalls. So each pod carries a digest of what it was made from, and a live pod
// whose digest differs from the pod the operator would make now is replaced,
// the way a Deployment rolls its pods when its template changes.
//
// The Secret's values never go into the digest as such: its NATS entries are
// first reduced with scrypt (once per distinct value, memoised), so a pod
// annotation, readable by anyone who can list pods, does not give a cheap
// offline test for guessing a NATS password.
import { createHash, scryptSync } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { annotations } from '../../api/names.ts';

const fingerprints = new Map<string, string>();

/** A slow, memoised fingerprint of the NATS entries worker pods get. */
function natsAccessFingerprint(natsSecretData: Readonly<Record<string, string>> = {}): string {
  const canonical = JSON.stringify(Object.entries(natsSecretData).sort(([a], [b]) => a.localeCompare(b)));
  let fingerprint = fingerprints.get(canonical);
  if (fingerprint === undefined) {
    fingerprint = scryptSync(canonical, 'ferry.dev/worker-nats-access', 16, {
      N: 2 ** 15,
      maxmem: 64 * 2 ** 20,
    }).toString('hex');
    fingerprints.set(canonical, fingerprint);
  }
  return fingerprint;
}

/** The digest a pod made from `spec` and `natsSecretData` carries. */
export function podTemplateDigest(
  spec: k8s.V1PodSpec,
  natsSecretData?: Readonly<Record<string, string>>,
): string {
  return createHash('sha256')
    .update(JSON.stringify(spec))
    .update('\0')
    .update(natsAccessFingerprint(natsSecretData))
    .digest('hex')
    .slice(0, 32);
}

/** Whether a live pod was made from something else than `desired` (a pod made before digests counts as such). */
export function podOutdated(pod: k8s.V1Pod, desired: k8s.V1Pod): boolean {
  return (
    pod.metadata?.annotations?.[annotations.podTemplate] !==
    desired.metadata?.annotations?.[annotations.podTemplate]
  );
}
