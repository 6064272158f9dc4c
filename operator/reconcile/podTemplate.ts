// Which worker pods are out of date (ADR 0015): a worker reads its settings
// once, at start, so each pod carries a digest of what it was made from, and a
// live pod whose digest differs from the pod the operator would make now is
// replaced. NATS secrets enter the digest only through scrypt, so a pod
// annotation gives no cheap offline test for a password.
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
