// The operator's kube client reuses its connections to the kube-apiserver
// (ADR 0013): the stock client-node KubeConfig opens a new TLS connection for
// every request. A rotated client certificate must still take effect at once.
import { execFile } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { PooledKubeConfig } from '../../../operator/kube/pooledKubeConfig.ts';
import { bedEndpoints } from '../../support/bed.ts';

const connected = 'undici:client:connected';

/** Counts the connections undici opens while `work` runs. */
async function connectionsDuring(work: () => Promise<void>): Promise<number> {
  let count = 0;
  const onConnect = () => count++;
  subscribe(connected, onConnect);
  try {
    await work();
  } finally {
    unsubscribe(connected, onConnect);
  }
  return count;
}

/** The bed's kubeconfig, with the client certificate and key read from files in `dir`. */
function kubeconfigWithCertificateFiles(dir: string): { config: string; cert: string; key: string } {
  const bed = JSON.parse(readFileSync(bedEndpoints().kubeconfig, 'utf8')) as {
    users: { user: Record<string, string> }[];
  };
  const user = bed.users[0]!.user;
  const cert = path.join(dir, 'client.crt');
  const key = path.join(dir, 'client.key');
  writeFileSync(cert, Buffer.from(user['client-certificate-data']!, 'base64'));
  writeFileSync(key, Buffer.from(user['client-key-data']!, 'base64'));
  bed.users[0]!.user = { 'client-certificate': cert, 'client-key': key };
  const config = path.join(dir, 'kubeconfig');
  writeFileSync(config, JSON.stringify(bed));
  return { config, cert, key };
}

describe('the operator kube client', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-kube-conn-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves sequential and concurrent requests over one connection, where the stock client opens one each', async () => {
    const pooled = new PooledKubeConfig();
    pooled.loadFromFile(bedEndpoints().kubeconfig);
    const stock = new k8s.KubeConfig();
    stock.loadFromFile(bedEndpoints().kubeconfig);
    const requests = async (kc: k8s.KubeConfig) => {
      const core = kc.makeApiClient(k8s.CoreV1Api);
      for (let i = 0; i < 10; i++) {
        const list = await core.listNamespace();
        expect(list.items.map((n) => n.metadata?.name)).toContain('default');
      }
      await Promise.all(Array.from({ length: 10 }, () => core.readNamespace({ name: 'default' })));
    };
    try {
      expect(await connectionsDuring(() => requests(stock))).toBe(20);
      expect(await connectionsDuring(() => requests(pooled))).toBeLessThanOrEqual(2);
    } finally {
      await pooled.closeConnections();
    }
  });

  it('uses a rotated client certificate from the next request on', async () => {
    const { config, cert, key } = kubeconfigWithCertificateFiles(dir);
    const admin = { cert: readFileSync(cert), key: readFileSync(key) };
    const kc = new PooledKubeConfig();
    kc.loadFromFile(config);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    try {
      await core.readNamespace({ name: 'default' });
      // A certificate the kube-apiserver's CA never signed: the server treats its holder as
      // anonymous. If the open connection (made with the admin certificate) were kept, the
      // request would still succeed as the admin.
      await promisify(execFile)('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', key, '-out', cert, '-days', '1', '-subj', '/O=system:masters/CN=impostor',
      ]); // prettier-ignore
      const refused = await core.readNamespace({ name: 'default' }).then(
        () => undefined,
        (err: unknown) => (err as { code?: number }).code,
      );
      expect([401, 403]).toContain(refused);
      // And back: the admin certificate works again.
      writeFileSync(cert, admin.cert);
      writeFileSync(key, admin.key);
      const ns = await core.readNamespace({ name: 'default' });
      expect(ns.metadata?.name).toBe('default');
    } finally {
      await kc.closeConnections();
    }
  });
});
