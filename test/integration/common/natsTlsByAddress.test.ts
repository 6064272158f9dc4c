// A NATS server addressed by IP (tls://10.0.0.5:4222, as the real node's bed
// addresses one) whose certificate names that address: nats.js gives Node no
// server name for it, so Node checked the certificate against "localhost" and
// refused it; Ferry's operator and workers could not connect at all. Against a
// real nats-server serving TLS with a certificate for 127.0.0.1 only.
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { connect } from '@nats-io/transport-node';
import { natsConnectionOptions } from '../../../common/natsAuth.ts';
import { createControlPlanePki, issueServingCertificate } from '../../bed/certificates.ts';
import { NatsServer } from '../../bed/natsServer.ts';
import { bedEndpoints } from '../../support/bed.ts';

describe('a TLS NATS server addressed by IP', () => {
  const servers: NatsServer[] = [];
  let caFile: string;
  let pkiDir: string;

  beforeAll(async () => {
    pkiDir = mkdtempSync(path.join(bedEndpoints().dir, 'nats-ip-pki-'));
    caFile = (await createControlPlanePki(pkiDir)).caCert;
  });
  afterAll(() => Promise.all(servers.map((s) => s.stop())));

  /** A server whose certificate names only `ip` (no DNS name, not "localhost"). */
  async function serverWithCertificateFor(ip: string): Promise<NatsServer> {
    const cert = await issueServingCertificate(pkiDir, `nats-${ip}`, 'nats', { ips: [ip], dnsNames: [] });
    const server = await NatsServer.create(bedEndpoints().dir, {
      name: `nats-ip-${servers.length}-${Date.now()}`,
      tls: { certFile: cert.cert, keyFile: cert.key },
    });
    servers.push(server);
    await server.start();
    return server;
  }

  it('is reached when its certificate names that address', async () => {
    const server = await serverWithCertificateFor('127.0.0.1');
    const nc = await connect(
      await natsConnectionOptions(server.url, { tls: { caFile } }, { maxReconnectAttempts: 0 }),
    );
    await nc.flush();
    await nc.close();
  });

  it('is still refused when its certificate names another address', async () => {
    const server = await serverWithCertificateFor('127.0.0.2');
    await expect(
      connect(await natsConnectionOptions(server.url, { tls: { caFile } }, { maxReconnectAttempts: 0 })),
    ).rejects.toThrow(/altnames|certificate/i);
  });
});
