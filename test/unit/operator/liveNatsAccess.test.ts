// The operator re-reads its NATS files and passes a rotation on only when the
// files are whole: a certificate with the key that belongs to it.
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../../../common/logging.ts';
import { createControlPlanePki, issueClientCertificate } from '../../bed/certificates.ts';
import { LiveNatsAccess, natsAccessDefect } from '../../../operator/reconcile/liveNatsAccess.ts';

describe('the NATS access passed on to worker pods', () => {
  let pki: string;
  let live: { ca: string; cert: string; key: string };
  let rotated: { cert: string; key: string };
  const logged: Array<[string, string, Record<string, unknown> | undefined]> = [];
  const record = (level: keyof Logger) => (m: string, meta?: Record<string, unknown>) =>
    logged.push([level, m, meta]);
  const log: Logger = {
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  };

  beforeAll(async () => {
    pki = await mkdtemp(path.join(os.tmpdir(), 'ferry-live-nats-'));
    const made = await createControlPlanePki(pki);
    rotated = await issueClientCertificate(pki, 'rotated', 'ferry-rotated');
    live = { ca: made.caCert, cert: path.join(pki, 'live.crt'), key: path.join(pki, 'live.key') };
    await copyFile(made.adminCert, live.cert);
    await copyFile(made.adminKey, live.key);
  }, 60_000);

  afterAll(() => rm(pki, { recursive: true, force: true }));

  const auth = () => ({
    tls: { caFile: live.ca, certFile: live.cert, keyFile: live.key },
    user: 'ferry',
    password: 'secret',
  });

  it('takes a rotated certificate and key, and tells its listeners', async () => {
    const access = await LiveNatsAccess.load(auth(), log);
    const before = access.current;
    let told = 0;
    access.onChange(() => told++);

    expect(await access.refresh()).toBe(false); // nothing changed
    await copyFile(rotated.cert, live.cert);
    await copyFile(rotated.key, live.key);
    expect(await access.refresh()).toBe(true);

    expect(told).toBe(1);
    expect(access.current['nats-client.crt']).toBe(await readFile(rotated.cert, 'utf8'));
    expect(access.current['nats-client.key']).toBe(await readFile(rotated.key, 'utf8'));
    expect(access.current['nats-client.crt']).not.toBe(before['nats-client.crt']);
    expect(access.current['nats-user']).toBe('ferry');
    expect(logged.at(-1)).toEqual([
      'info',
      'the NATS access files changed; running jobs get the new access',
      { changed: ['nats-client.crt', 'nats-client.key'] },
    ]);
  });

  it('keeps the last good access while the certificate and key are not a pair', async () => {
    const access = await LiveNatsAccess.load(auth(), log);
    const good = access.current;
    // Half a rotation: a new certificate next to the key of the old one.
    const other = await issueClientCertificate(pki, 'other', 'ferry-other');
    await copyFile(other.cert, live.cert);

    expect(await access.refresh()).toBe(false);
    expect(access.current).toBe(good);
    expect(logged.at(-1)?.[0]).toBe('warn');
    expect(logged.at(-1)?.[2]).toEqual({
      reason: 'the client key does not belong to the client certificate',
    });

    await copyFile(other.key, live.key); // the rotation completes
    expect(await access.refresh()).toBe(true);
    expect(access.current['nats-client.crt']).toBe(await readFile(other.cert, 'utf8'));
  }, 30_000);

  it('keeps the last good access while a file cannot be read', async () => {
    const access = await LiveNatsAccess.load(auth(), log);
    const good = access.current;
    const saved = await readFile(live.key);
    await rm(live.key);
    try {
      expect(await access.refresh()).toBe(false);
      expect(access.current).toBe(good);
      expect(logged.at(-1)?.[1]).toBe(
        'cannot re-read the NATS access files; worker pods keep the last good access',
      );
    } finally {
      await writeFile(live.key, saved);
    }
  });

  it('names what is wrong with a certificate that cannot be parsed', () => {
    expect(natsAccessDefect({ 'nats-client.crt': 'garbage', 'nats-client.key': 'garbage' })).toMatch(
      /^the client certificate or key cannot be parsed: /,
    );
    expect(natsAccessDefect({ 'nats-ca.crt': 'anything' })).toBeUndefined();
  });
});
