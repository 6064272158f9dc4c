// The PKI of a local control plane, made with the openssl CLI the way envtest
// makes its own: a CA, a serving certificate for kube-apiserver, an admin
// client certificate in system:masters, and the service-account signing keys.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

const run = promisify(execFile);

export interface ControlPlanePki {
  caCert: string; // file paths
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr || e.message}`, { cause: err });
  }
}

async function issue(
  dir: string,
  name: string,
  subject: string,
  extensions: string,
): Promise<{ cert: string; key: string }> {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.crt`);
  const ext = path.join(dir, `${name}.ext`);
  await writeFile(ext, extensions);
  await openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      subject,
    ],
    dir,
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '30',
      '-out',
      cert,
      '-extfile',
      ext,
    ],
    dir,
  );
  return { cert, key };
}

/**
 * Another client certificate from the CA in `dir` (made by createControlPlanePki), e.g. to rotate one.
 * `organization` is the Kubernetes group the certificate's user is in (e.g. system:nodes).
 */
export function issueClientCertificate(
  dir: string,
  name: string,
  commonName: string,
  organization?: string,
): Promise<{ cert: string; key: string }> {
  const subject = organization ? `/O=${organization}/CN=${commonName}` : `/CN=${commonName}`;
  return issue(dir, name, subject, 'extendedKeyUsage=clientAuth\n');
}

/** A serving certificate from the CA in `dir` for these IP addresses and DNS names. */
export function issueServingCertificate(
  dir: string,
  name: string,
  commonName: string,
  names: { ips: readonly string[]; dnsNames: readonly string[] },
): Promise<{ cert: string; key: string }> {
  return issue(dir, name, `/CN=${commonName}`, servingExtensions(names));
}

function servingExtensions(names: { ips: readonly string[]; dnsNames: readonly string[] }): string {
  const alt = [...names.ips.map((ip) => `IP:${ip}`), ...names.dnsNames.map((dns) => `DNS:${dns}`)];
  return `subjectAltName=${alt.join(',')}\nextendedKeyUsage=serverAuth\n`;
}

export interface PkiOptions {
  /**
   * The IP addresses kube-apiserver's serving certificate is valid for; today's loopback bed by
   * default. The cluster tier adds the node's address and the `kubernetes` Service's cluster IP.
   */
  apiServerIps?: readonly string[];
}

const apiServerDnsNames = [
  'localhost',
  'kubernetes',
  'kubernetes.default',
  'kubernetes.default.svc',
  'kubernetes.default.svc.cluster.local',
];

export async function createControlPlanePki(dir: string, options: PkiOptions = {}): Promise<ControlPlanePki> {
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '30',
      '-subj',
      '/CN=ferry-bed-ca',
    ],
    dir,
  );
  const serving = await issueServingCertificate(dir, 'apiserver', 'kube-apiserver', {
    ips: options.apiServerIps ?? ['127.0.0.1', '10.0.0.1'],
    dnsNames: apiServerDnsNames,
  });
  const admin = await issue(
    dir,
    'admin',
    '/O=system:masters/CN=ferry-admin',
    'extendedKeyUsage=clientAuth\n',
  );
  await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir);
  await openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  return {
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    servingCert: serving.cert,
    servingKey: serving.key,
    adminCert: admin.cert,
    adminKey: admin.key,
    serviceAccountKey: path.join(dir, 'sa.key'),
    serviceAccountPub: path.join(dir, 'sa.pub'),
  };
}

/** A kubeconfig with the certificates embedded, so it works from any directory. */
export async function kubeconfigFor(pki: ControlPlanePki, server: string): Promise<string> {
  return kubeconfigWithClientCertificate(pki.caCert, server, 'ferry-admin', {
    cert: pki.adminCert,
    key: pki.adminKey,
  });
}

/** A kubeconfig for the user of a client certificate (embedded), e.g. a kubelet or kube-scheduler. */
export async function kubeconfigWithClientCertificate(
  caCert: string,
  server: string,
  user: string,
  client: { cert: string; key: string },
): Promise<string> {
  const b64 = async (file: string) => (await readFile(file)).toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'ferry-bed', cluster: { server, 'certificate-authority-data': await b64(caCert) } }],
    users: [
      {
        name: user,
        user: {
          'client-certificate-data': await b64(client.cert),
          'client-key-data': await b64(client.key),
        },
      },
    ],
    contexts: [{ name: 'ferry-bed', context: { cluster: 'ferry-bed', user, namespace: 'default' } }],
    'current-context': 'ferry-bed',
  };
  // JSON is valid YAML: kubectl and client-node both read it.
  return JSON.stringify(config, null, 2);
}
