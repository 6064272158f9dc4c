// A NATS creds file is read at each connect, so one rotated in place is used
// from the next reconnect; a moment without the file falls back to the last copy.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { nkeys, type Authenticator } from '@nats-io/transport-node';
import { natsConnectionOptions } from '../../../common/natsAuth.ts';

function credsFile(jwt: string): string {
  const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
  return [
    '-----BEGIN NATS USER JWT-----',
    jwt,
    '------END NATS USER JWT------',
    '',
    '-----BEGIN USER NKEY SEED-----',
    seed,
    '------END USER NKEY SEED------',
    '',
  ].join('\n');
}

describe('a NATS creds file', () => {
  let dir: string;
  beforeAll(async () => (dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-creds-'))));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('is read again at each connect, and its last good copy serves while it is missing', async () => {
    const file = path.join(dir, 'user.creds');
    await writeFile(file, credsFile('jwt-before-rotation'));
    const options = await natsConnectionOptions('nats://127.0.0.1:4222', { credsFile: file });
    const authenticate = options.authenticator as Authenticator;
    const nonce = 'a-nonce';
    expect(authenticate(nonce)).toMatchObject({ jwt: 'jwt-before-rotation' });

    await writeFile(file, credsFile('jwt-after-rotation'));
    expect(authenticate(nonce)).toMatchObject({ jwt: 'jwt-after-rotation' });

    await rm(file);
    expect(authenticate(nonce)).toMatchObject({ jwt: 'jwt-after-rotation' });
  });

  it('that is missing at start-up is an error', async () => {
    await expect(
      natsConnectionOptions('nats://127.0.0.1:4222', { credsFile: path.join(dir, 'absent.creds') }),
    ).rejects.toThrow(/ENOENT/);
  });
});
