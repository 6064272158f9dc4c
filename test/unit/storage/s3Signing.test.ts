import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { canonicalQuery, emptyPayloadSha256, SigV4Signer, uriEncode } from '../../../storage/s3Signing.ts';
import { AwsChunkedFramer, awsChunkBytes, awsChunkedLength } from '../../../storage/s3ObjectRequests.ts';

// The example of AWS's "Signature Calculations for the Authorization Header:
// Transferring Payload in a Single Chunk" (GET Object with a Range).
const exampleCredentials = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const exampleDate = new Date('2013-05-24T00:00:00Z');

describe('SigV4 signing of S3 requests', () => {
  it("signs AWS's published GET Object example to its published signature", () => {
    const added = new SigV4Signer('us-east-1').sign(
      {
        method: 'GET',
        path: '/test.txt',
        headers: {
          host: 'examplebucket.s3.amazonaws.com',
          range: 'bytes=0-9',
          'x-amz-content-sha256': emptyPayloadSha256,
        },
      },
      exampleCredentials,
      exampleDate,
    );
    expect(added['x-amz-date']).toBe('20130524T000000Z');
    expect(added.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
        'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, ' +
        'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
  });

  it('signs the session token of temporary credentials', () => {
    const added = new SigV4Signer('eu-west-1').sign(
      { method: 'GET', path: '/b/k', headers: { host: 'h', 'x-amz-content-sha256': emptyPayloadSha256 } },
      { ...exampleCredentials, sessionToken: 'token/with+chars' },
      exampleDate,
    );
    expect(added['x-amz-security-token']).toBe('token/with+chars');
    expect(added.authorization).toContain(
      'SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token',
    );
    expect(added.authorization).toContain('/20130524/eu-west-1/s3/aws4_request');
  });

  it('gives a different signature when any signed part changes', () => {
    const signer = new SigV4Signer('us-east-1');
    const base = {
      method: 'PUT',
      path: '/b/k',
      query: [['partNumber', '1']] as [string, string][],
      headers: { host: 'h', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    };
    const signature = (request: typeof base) =>
      signer.sign(request, exampleCredentials, exampleDate).authorization;
    const reference = signature(base);
    expect(signature({ ...base, method: 'GET' })).not.toBe(reference);
    expect(signature({ ...base, path: '/b/k2' })).not.toBe(reference);
    expect(signature({ ...base, query: [['partNumber', '2']] })).not.toBe(reference);
    expect(signature({ ...base, headers: { ...base.headers, host: 'h2' } })).not.toBe(reference);
    expect(signature(base)).toBe(reference);
  });

  it('encodes keys the way S3 canonicalises them: UTF-8, RFC 3986, slashes kept in paths', () => {
    expect(uriEncode('dir/a b+c%d~e_f-g.h', true)).toBe('dir/a%20b%2Bc%25d~e_f-g.h');
    expect(uriEncode("it's (a)*!", true)).toBe('it%27s%20%28a%29%2A%21');
    expect(uriEncode('日本/ü', true)).toBe('%E6%97%A5%E6%9C%AC/%C3%BC');
    expect(uriEncode('a/b', false)).toBe('a%2Fb');
    expect(uriEncode('../x', true)).toBe('../x');
  });

  it('sorts and encodes the query', () => {
    expect(
      canonicalQuery([
        ['uploadId', 'a/b+c='],
        ['partNumber', '12'],
      ]),
    ).toBe('partNumber=12&uploadId=a%2Fb%2Bc%3D');
    expect(canonicalQuery([])).toBe('');
  });
});

describe('aws-chunked length', () => {
  // The framing the server parses: hex size, CRLF, bytes, CRLF; a zero chunk; the trailer; CRLF.
  function framed(size: number): number {
    let length = 0;
    for (let left = size; left > 0; left -= Math.min(left, awsChunkBytes)) {
      const n = Math.min(left, awsChunkBytes);
      length += `${n.toString(16)}\r\n`.length + n + 2;
    }
    return length + `0\r\nx-amz-checksum-sha256:${'A'.repeat(43)}=\r\n\r\n`.length;
  }

  it.each([
    0,
    1,
    awsChunkBytes - 1,
    awsChunkBytes,
    awsChunkBytes + 1,
    3 * awsChunkBytes,
    64 * 1024 * 1024 + 5,
  ])('is exact for %i bytes', (size) => {
    expect(awsChunkedLength(size)).toBe(framed(size));
  });

  it('matches what the framer sends, whatever pieces the body arrives in', async () => {
    const size = 2 * awsChunkBytes + 12_345;
    const data = Buffer.alloc(size, 'x');
    const pieces: Buffer[] = [];
    for (let at = 0, n = 1; at < size; at += n, n = (n * 7 + 3) % 100_000 || 1)
      pieces.push(data.subarray(at, at + n));
    const digest = createHash('sha256').update(data).digest('hex');
    const framer = Readable.from(pieces, { objectMode: false }).pipe(new AwsChunkedFramer(() => digest));
    const sent: Buffer[] = [];
    for await (const chunk of framer) sent.push(chunk as Buffer);
    const wire = Buffer.concat(sent);
    expect(wire.length).toBe(awsChunkedLength(size));
    const text = wire.toString('latin1');
    expect(text.startsWith(`${awsChunkBytes.toString(16)}\r\n`)).toBe(true);
    expect(
      text.endsWith(`0\r\nx-amz-checksum-sha256:${Buffer.from(digest, 'hex').toString('base64')}\r\n\r\n`),
    ).toBe(true);
    expect(text).toContain(`\r\n${(12_345).toString(16)}\r\n`);
  });

  it('fails a body that ends without its SHA-256', async () => {
    const framer = Readable.from([Buffer.from('abc')], { objectMode: false }).pipe(
      new AwsChunkedFramer(() => undefined),
    );
    await expect(
      (async () => {
        for await (const chunk of framer) void chunk;
      })(),
    ).rejects.toThrow(/without its SHA-256/);
  });
});
