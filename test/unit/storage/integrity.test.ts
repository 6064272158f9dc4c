import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VerifyingStream } from '../../../storage/integrity.ts';
import { ChecksumMismatchError, compareKeys, SizeMismatchError } from '../../../storage/index.ts';

const context = { store: 'test store', operation: 'write', key: 'k' };

async function run(
  chunks: string[],
  size: number,
  sha256?: string,
): Promise<{ out: string; verifier: VerifyingStream }> {
  const verifier = new VerifyingStream(context, size, sha256);
  let out = '';
  await pipeline(
    Readable.from(chunks.map((c) => Buffer.from(c))),
    verifier,
    async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) out += chunk.toString();
    },
  );
  return { out, verifier };
}

describe('VerifyingStream', () => {
  it('forwards the bytes and computes their SHA-256', async () => {
    const { out, verifier } = await run(['hello ', 'world'], 11);
    expect(out).toBe('hello world');
    expect(verifier.sha256).toBe(createHash('sha256').update('hello world').digest('hex'));
  });

  it('accepts the expected SHA-256', async () => {
    await expect(run(['abc'], 3, createHash('sha256').update('abc').digest('hex'))).resolves.toBeDefined();
  });

  it('fails on a different SHA-256', async () => {
    await expect(run(['abc'], 3, 'f'.repeat(64))).rejects.toBeInstanceOf(ChecksumMismatchError);
  });

  it('fails on a short or a long body', async () => {
    await expect(run(['abc'], 4)).rejects.toBeInstanceOf(SizeMismatchError);
    await expect(run(['abc', 'def'], 4)).rejects.toMatchObject({ actual: 'more', kind: 'retryable' });
  });
});

describe('compareKeys', () => {
  it('orders by UTF-8 bytes, not UTF-16 code units', () => {
    expect('\u{1F600}' < '\uFF01').toBe(true);
    expect(compareKeys('\u{1F600}', '\uFF01')).toBeGreaterThan(0);
    expect(compareKeys('a-b', 'a/b')).toBeLessThan(0);
    expect(compareKeys('a/b', 'a0')).toBeLessThan(0);
  });
});
