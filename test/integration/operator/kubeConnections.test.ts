// The operator's kube client reuses its connections to the kube-apiserver
// (ADR 0013): the stock client-node KubeConfig opens a new TLS connection for
// every request. A rotated client certificate must still take effect at once.
import { execFile } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
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

/**
 * A TCP relay to the kube-apiserver whose open connections can be made to go
 * silent, as behind a NAT that dropped them: bytes are swallowed both ways and
 * nobody is told. Connections opened afterwards flow.
 */
async function silenceableRelay(target: URL) {
  const open = new Set<{ silent: boolean }>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    const state = { silent: false };
    open.add(state);
    client.on('data', (d) => state.silent || upstream.write(d));
    upstream.on('data', (d) => state.silent || client.write(d));
    const end = () => {
      open.delete(state);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    silenceOpenConnections: () => open.forEach((c) => (c.silent = true)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
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

  it('gives up on a connection that went silent after the headers timeout, and the next request connects anew', async () => {
    const bed = JSON.parse(readFileSync(bedEndpoints().kubeconfig, 'utf8')) as {
      clusters: { cluster: { server: string } }[];
    };
    const relay = await silenceableRelay(new URL(bed.clusters[0]!.cluster.server));
    bed.clusters[0]!.cluster.server = relay.url;
    const config = path.join(dir, 'relayed-kubeconfig');
    writeFileSync(config, JSON.stringify(bed));
    const kc = new PooledKubeConfig({ headersTimeoutMs: 1_000 });
    kc.loadFromFile(config);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    try {
      await core.readNamespace({ name: 'default' });
      relay.silenceOpenConnections();
      const began = Date.now();
      const failure = await core.readNamespace({ name: 'default' }).then(
        () => undefined,
        (err: unknown) => err as Error,
      );
      const waitedMs = Date.now() - began;
      expect(failure).toBeDefined();
      const causes: unknown[] = [];
      for (let e: unknown = failure; e; e = (e as { cause?: unknown }).cause) causes.push(e);
      expect(causes).toContainEqual(expect.objectContaining({ code: 'UND_ERR_HEADERS_TIMEOUT' }));
      expect(waitedMs).toBeGreaterThanOrEqual(900);
      expect(waitedMs).toBeLessThan(10_000);
      // The silent connection is dropped; the next request opens one that works.
      const ns = await core.readNamespace({ name: 'default' });
      expect(ns.metadata?.name).toBe('default');
    } finally {
      await kc.closeConnections();
      await relay.close();
    }
  });
});
