// How a Ferry process reaches NATS: TLS files and credentials read from the
// environment (FERRY_NATS_TLS_CA/_CERT/_KEY, FERRY_NATS_USER/_PASSWORD,
// FERRY_NATS_CREDS_FILE), validated the same way for the operator and the
// workers, and turned into connection options. The operator hands the same
// material on to a job's worker pods (operator/reconcile/workerPods.ts).
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { checkServerIdentity, type ConnectionOptions } from 'node:tls';
import { credsAuthenticator, type NodeConnectionOptions } from '@nats-io/transport-node';

export interface TlsFiles {
  caFile: string;
  certFile?: string;
  keyFile?: string;
}

export interface NatsAuth {
  tls?: TlsFiles;
  user?: string;
  password?: string;
  credsFile?: string;
}

/** The environment variables NATS access is read from. */
export const natsAuthEnv = {
  tlsCa: 'FERRY_NATS_TLS_CA',
  tlsCert: 'FERRY_NATS_TLS_CERT',
  tlsKey: 'FERRY_NATS_TLS_KEY',
  user: 'FERRY_NATS_USER',
  password: 'FERRY_NATS_PASSWORD',
  credsFile: 'FERRY_NATS_CREDS_FILE',
} as const;

/** Builds the caller's own error type (ConfigError, WorkerConfigError), so each keeps its start-up message. */
export type ErrorFor = (message: string) => Error;

/** FERRY_<SERVICE>_TLS_CA/_CERT/_KEY: a CA enables TLS; a client certificate needs both cert and key. */
export function readTlsFiles(
  env: NodeJS.ProcessEnv,
  service: 'NATS' | 'ETCD',
  error: ErrorFor,
): TlsFiles | undefined {
  const caFile = env[`FERRY_${service}_TLS_CA`] || undefined;
  const certFile = env[`FERRY_${service}_TLS_CERT`] || undefined;
  const keyFile = env[`FERRY_${service}_TLS_KEY`] || undefined;
  if (!caFile && !certFile && !keyFile) return undefined;
  if (!caFile) throw error(`FERRY_${service}_TLS_CA is required when a client certificate is set`);
  if (!certFile !== !keyFile) {
    throw error(`FERRY_${service}_TLS_CERT and FERRY_${service}_TLS_KEY must be set together`);
  }
  return { caFile, ...(certFile ? { certFile, keyFile } : {}) };
}

/** A user and a password that only make sense together. */
export function readCredentialPair(
  env: NodeJS.ProcessEnv,
  userVar: string,
  passwordVar: string,
  error: ErrorFor,
): { user?: string; password?: string } {
  const user = env[userVar] || undefined;
  const password = env[passwordVar] || undefined;
  if (!user !== !password) throw error(`${userVar} and ${passwordVar} must be set together`);
  return user ? { user, password } : {};
}

export function readNatsAuth(env: NodeJS.ProcessEnv, error: ErrorFor): NatsAuth {
  const auth: NatsAuth = {
    tls: readTlsFiles(env, 'NATS', error),
    ...readCredentialPair(env, natsAuthEnv.user, natsAuthEnv.password, error),
    credsFile: env[natsAuthEnv.credsFile] || undefined,
  };
  if (auth.credsFile && auth.user) {
    throw error(`${natsAuthEnv.credsFile} and ${natsAuthEnv.user} are alternatives: set one`);
  }
  return auth;
}

/**
 * What a connection presents, for an error that names it: a refused or timed
 * out connection is then diagnosed from the log (e.g. a server that wants a
 * client certificate closes the handshake, which reads as a timeout).
 */
export function describeNatsAuth(auth: NatsAuth): string {
  const tls = auth.tls
    ? `TLS with CA ${auth.tls.caFile}, ${auth.tls.certFile ? `client certificate ${auth.tls.certFile}` : 'no client certificate'}`
    : 'no TLS';
  const credentials = auth.credsFile
    ? `creds file ${auth.credsFile}`
    : auth.user
      ? `user ${auth.user}`
      : 'no credentials';
  return `${tls}, ${credentials}`;
}

/**
 * Connection options for `servers` with `auth`. The creds file is read now (a
 * missing one fails at start-up) and again at each connect, like the TLS
 * files the client reads itself, so a file rotated in place is used from the
 * next reconnect; an unreadable file then falls back to the last good copy.
 */
export async function natsConnectionOptions(
  servers: string,
  auth: NatsAuth,
  extra: Partial<NodeConnectionOptions> = {},
): Promise<NodeConnectionOptions> {
  const { tls, user, password, credsFile } = auth;
  return {
    servers,
    maxReconnectAttempts: -1,
    ...extra,
    ...(tls
      ? {
          tls: {
            caFile: tls.caFile,
            ...(tls.certFile ? { certFile: tls.certFile, keyFile: tls.keyFile } : {}),
            ...serverAddressCheck(servers),
          },
        }
      : {}),
    ...(user ? { user, pass: password } : {}),
    ...(credsFile
      ? { authenticator: credsAuthenticator(rereadEachTime(credsFile, await readFile(credsFile))) }
      : {}),
  };
}

function rereadEachTime(file: string, first: Uint8Array): () => Uint8Array {
  let last = first;
  return () => {
    try {
      last = readFileSync(file);
    } catch {
      // Mid-swap or gone for a moment: the last good copy still authenticates, or NATS says why not.
    }
    return last;
  };
}

/**
 * The certificate check for servers addressed by IP. nats.js gives Node no
 * server name for such a server, so Node checks the certificate against
 * "localhost", and a certificate issued for the server's address fails
 * (found on the real node: a NATS at tls://10.244.0.1 was unreachable). A
 * certificate Node's own check refuses for that reason is accepted when it is
 * valid for one of the IP addresses configured; any other check is Node's.
 */
function serverAddressCheck(servers: string): Pick<ConnectionOptions, 'checkServerIdentity'> {
  const addresses = servers
    .split(',')
    .map((url) => hostOfServer(url.trim()))
    .filter((host) => isIP(host) !== 0);
  if (addresses.length === 0) return {};
  return {
    checkServerIdentity: (host, cert) => {
      const refused = checkServerIdentity(host, cert);
      if (!refused || host !== 'localhost') return refused;
      return addresses.some((address) => !checkServerIdentity(address, cert)) ? undefined : refused;
    },
  };
}

/** The host of a NATS server URL (`tls://10.0.0.5:4222`, `[::1]:4222`, `host:4222`), without brackets. */
function hostOfServer(url: string): string {
  try {
    return new URL(url.includes('://') ? url : `nats://${url}`).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return '';
  }
}
