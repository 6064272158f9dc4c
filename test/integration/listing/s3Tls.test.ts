// The operator lists an S3 store served over HTTPS with a private CA — the
// CA taken from the Secret the job names in caBundleSecretRef, as the worker
// pods mount it — against a real versitygw speaking TLS. Without the CA the
// listing fails with a permanent error, not an empty listing.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import https from 'node:https';
import type { ReplicationJob } from '../../../api/v1alpha1/index.ts';
import { openStoreListing } from '../../../operator/planner/storeListing.ts';
import { S3Store } from '../../../storage/s3Store.ts';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { createControlPlanePki } from '../../bed/certificates.ts';
import { S3Server } from '../../bed/s3Server.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { installCrds, kubeConfigFor } from '../../support/kube.ts';

const namespace = `s3-tls-it-${Date.now()}`;

describe('listing an S3 store with a private CA', () => {
  let server: S3Server;
  let core: k8s.CoreV1Api;

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-s3-tls-'));
    const pki = await createControlPlanePki(dir);
    server = await S3Server.create(dir, 's3-tls', {
      certFile: pki.servingCert,
      keyFile: pki.servingKey,
      caFile: pki.caCert,
    });
    await server.start();
    const kc = kubeConfigFor(bedEndpoints().kubeconfig);
    await installCrds(kc);
    core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: 's3-creds' },
        stringData: {
          AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
        },
      },
    });
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'private-ca' }, stringData: { 'ca.crt': readFileSync(pki.caCert, 'utf8') } },
    });
    const admin = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      credentials: server.credentials,
      forcePathStyle: true,
      requestHandler: new NodeHttpHandler({
        httpsAgent: new https.Agent({ ca: readFileSync(pki.caCert, 'utf8') }),
      }),
    });
    await admin.send(new CreateBucketCommand({ Bucket: 'secure' }));
    for (const key of ['a.txt', 'b/c.txt'])
      await admin.send(new PutObjectCommand({ Bucket: 'secure', Key: key, Body: key }));
    admin.destroy();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const job = (withCa: boolean): ReplicationJob => ({
    apiVersion: 'ferry.dev/v1alpha1',
    kind: 'ReplicationJob',
    metadata: { name: 'tls', namespace, uid: 'tls-uid' },
    spec: {
      source: {
        s3: {
          endpoint: server.endpoint,
          bucket: 'secure',
          credentialsSecretRef: { name: 's3-creds' },
          ...(withCa ? { caBundleSecretRef: { name: 'private-ca' } } : {}),
        },
      },
      destination: {
        s3: { endpoint: 'http://127.0.0.1:1', bucket: 'unused', credentialsSecretRef: { name: 's3-creds' } },
      },
    },
  });

  async function keys(withCa: boolean): Promise<string[]> {
    const listing = await openStoreListing(job(withCa), 'source', {
      core,
      nats: () => Promise.reject(new Error('not needed for S3')),
    });
    try {
      const out: string[] = [];
      for await (const o of listing.list('')) out.push(o.key);
      return out;
    } finally {
      await listing.close();
    }
  }

  it("trusts the CA from the job's Secret", async () => {
    expect(await keys(true)).toEqual(['a.txt', 'b/c.txt']);
  });

  it('refuses the endpoint without it, permanently and saying why', async () => {
    const error = await keys(false).then(
      () => undefined,
      (err: unknown) => err as Error & { kind?: string },
    );
    expect(error?.kind).toBe('permanent');
    expect(error?.message).toMatch(/certificate/i);
  });

  it('reads and writes objects over it with the CA, as worker pods do', async () => {
    const store = new S3Store(
      { endpoint: server.endpoint, bucket: 'secure', caBundleFile: server.caFile! },
      { credentials: server.credentials },
    );
    try {
      for (const size of [4096, 700 * 1024]) {
        const data = randomBytes(size);
        const written = await store.write(`written/${size}`, Readable.from([data]), { size });
        expect(written.sha256).toBe(createHash('sha256').update(data).digest('hex'));
        const chunks: Buffer[] = [];
        for await (const chunk of await store.read(`written/${size}`)) chunks.push(chunk as Buffer);
        expect(Buffer.concat(chunks).equals(data)).toBe(true);
      }
    } finally {
      await store.close();
    }
  });
});
