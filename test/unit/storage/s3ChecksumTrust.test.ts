// When the S3 driver stops hashing a body itself and leaves its SHA-256 to the
// server: only after the server has refused a deliberately wrong one.
import { S3ChecksumTrust, type ChecksummedOperation } from '../../../storage/s3ChecksumTrust.ts';

function trustWith(answer: (operation: ChecksummedOperation) => Promise<boolean>) {
  const asked: ChecksummedOperation[] = [];
  const trust = new S3ChecksumTrust((operation) => {
    asked.push(operation);
    return answer(operation);
  });
  return { trust, asked };
}

describe('trusting the S3 server with SHA-256 checks', () => {
  it('trusts nothing before the server has echoed a SHA-256', () => {
    const { trust, asked } = trustWith(async () => true);
    expect(trust.leftToServer('write')).toBe(false);
    expect(trust.leftToServer('writePart')).toBe(false);
    expect(asked).toEqual([]);
  });

  it('trusts an operation once the server that echoed its SHA-256 also refuses a wrong one', async () => {
    const { trust } = trustWith(async () => true);
    await trust.echoed('write');
    expect(trust.leftToServer('write')).toBe(true);
    expect(trust.leftToServer('writePart')).toBe(false);
  });

  it('never trusts a server that accepts a wrong SHA-256, and asks it only once', async () => {
    const { trust, asked } = trustWith(async () => false);
    await trust.echoed('writePart');
    await trust.echoed('writePart');
    expect(trust.leftToServer('writePart')).toBe(false);
    expect(asked).toEqual(['writePart']);
  });

  it('counts a probe that fails as no refusal', async () => {
    const { trust } = trustWith(() => Promise.reject(new Error('connection reset')));
    await trust.echoed('write');
    expect(trust.leftToServer('write')).toBe(false);
  });

  it('asks once for concurrent echoes of the same operation', async () => {
    let refuse!: (refused: boolean) => void;
    const { trust, asked } = trustWith(() => new Promise<boolean>((resolve) => (refuse = resolve)));
    const echoes = Promise.all([trust.echoed('write'), trust.echoed('write')]);
    refuse(true);
    await echoes;
    expect(asked).toEqual(['write']);
    expect(trust.leftToServer('write')).toBe(true);
  });

  it('hashes here again once withdrawn', async () => {
    const { trust } = trustWith(async () => true);
    await trust.echoed('write');
    trust.withdraw('write');
    expect(trust.leftToServer('write')).toBe(false);
  });
});
