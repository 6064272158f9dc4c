// The NATS access a job's worker pods get (ADR 0009, ADR 0016): the operator's
// own TLS material and credentials, kept in the job's worker Secret and named
// by the pod spec, never written into it. A Secret holding other access is
// brought in step while its job runs.
import { readFile } from 'node:fs/promises';
import type * as k8s from '@kubernetes/client-node';
import { natsAuthEnv, type NatsAuth } from '../../common/natsAuth.ts';
import { ConfigError } from '../config.ts';

/** Keys of the worker Secret holding NATS access, and for files the env var that points at the file. */
const fileKeys = [
  { key: 'nats-ca.crt', env: natsAuthEnv.tlsCa, file: (a: NatsAuth) => a.tls?.caFile },
  { key: 'nats-client.crt', env: natsAuthEnv.tlsCert, file: (a: NatsAuth) => a.tls?.certFile },
  { key: 'nats-client.key', env: natsAuthEnv.tlsKey, file: (a: NatsAuth) => a.tls?.keyFile },
  { key: 'nats.creds', env: natsAuthEnv.credsFile, file: (a: NatsAuth) => a.credsFile },
] as const;
const userKey = 'nats-user';
const passwordKey = 'nats-password';

/** Every key of the worker Secret that holds NATS access (the rest is the worker token). */
export const natsSecretKeys: readonly string[] = [...fileKeys.map(({ key }) => key), userKey, passwordKey];

/** The NATS entries of a worker Secret's (decoded) data. */
export function natsEntriesOf(data: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).filter(([key]) => natsSecretKeys.includes(key)));
}

/** Whether a worker Secret's NATS entries are what the operator would write now. */
export function sameNatsEntries(
  held: Readonly<Record<string, string>>,
  wanted: Readonly<Record<string, string>> = {},
): boolean {
  const keys = new Set([...Object.keys(held), ...Object.keys(wanted)]);
  return [...keys].every((key) => held[key] === wanted[key]);
}

/** Where worker pods see the NATS files. */
export const natsMountPath = '/etc/ferry/nats';
const volumeName = 'nats-access';

/** The worker Secret's NATS entries: the contents of the operator's files, its user and password. */
export async function workerNatsSecretData(auth: NatsAuth): Promise<Record<string, string>> {
  const data: Record<string, string> = {};
  for (const { key, env, file } of fileKeys) {
    const name = file(auth);
    if (!name) continue;
    try {
      data[key] = await readFile(name, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `cannot read ${env} (${name}) to pass it on to worker pods: ${(err as Error).message}`,
      );
    }
  }
  if (auth.user) Object.assign(data, { [userKey]: auth.user, [passwordKey]: auth.password! });
  return data;
}

/** The pod's part of NATS access, for a Secret holding `secretData` under `secretName`. */
export function workerNatsPodAccess(
  secretName: string,
  secretData: Readonly<Record<string, string>> = {},
): { env: k8s.V1EnvVar[]; volumes: k8s.V1Volume[]; mounts: k8s.V1VolumeMount[] } {
  const files = fileKeys.filter(({ key }) => key in secretData);
  const env: k8s.V1EnvVar[] = files.map(({ key, env }) => ({ name: env, value: `${natsMountPath}/${key}` }));
  if (userKey in secretData) {
    env.push(
      { name: natsAuthEnv.user, valueFrom: { secretKeyRef: { name: secretName, key: userKey } } },
      { name: natsAuthEnv.password, valueFrom: { secretKeyRef: { name: secretName, key: passwordKey } } },
    );
  }
  if (files.length === 0) return { env, volumes: [], mounts: [] };
  return {
    env,
    volumes: [
      {
        name: volumeName,
        // Only the NATS files: the worker token stays out of the file system.
        secret: { secretName, items: files.map(({ key }) => ({ key, path: key })), defaultMode: 0o400 },
      },
    ],
    mounts: [{ name: volumeName, mountPath: natsMountPath, readOnly: true }],
  };
}
