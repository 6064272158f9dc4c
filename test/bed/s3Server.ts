// An S3-compatible server on loopback: versitygw serving a POSIX directory.
// It is a real S3 implementation (signature v4, multipart, listing v2), not a mock.
import { mkdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { freePort, httpGet } from './network.ts';
import { BedServer } from './server.ts';
import { toolPath } from './tools.ts';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface S3Tls {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export class S3Server extends BedServer {
  readonly endpoint: string;
  readonly region = 'us-east-1';
  readonly credentials: S3Credentials;

  /** The CA file a client trusts for an HTTPS endpoint. */
  readonly caFile: string | undefined;

  private constructor(bedDir: string, name: string, port: number, tls?: S3Tls, host = '127.0.0.1') {
    const rootDir = path.join(bedDir, name);
    mkdirSync(rootDir, { recursive: true });
    const credentials = {
      accessKeyId: `ferry${randomBytes(4).toString('hex')}`,
      secretAccessKey: randomBytes(20).toString('hex'),
    };
    super(
      bedDir,
      {
        name,
        command: toolPath('versitygw'),
        args: [
          '--port',
          `${host}:${port}`,
          '--access',
          credentials.accessKeyId,
          '--secret',
          credentials.secretAccessKey,
          '--region',
          'us-east-1',
          '--health',
          '/health',
          '--quiet',
          // Keep connections open between requests, as production S3 endpoints do (versitygw closes them by default).
          '--keep-alive',
          ...(tls ? ['--cert', tls.certFile, '--key', tls.keyFile] : []),
          'posix',
          rootDir,
        ],
      },
      20_000,
    );
    this.endpoint = `${tls ? 'https' : 'http'}://${host}:${port}`;
    this.caFile = tls?.caFile;
    this.credentials = credentials;
  }

  /**
   * With `tls`, the server speaks HTTPS with that certificate (for 127.0.0.1).
   * `host`: the address it listens on — loopback, or the cluster tier's bridge
   * address, where pods reach it.
   */
  static async create(bedDir: string, name = 's3', tls?: S3Tls, host?: string): Promise<S3Server> {
    return new S3Server(bedDir, name, await freePort(), tls, host);
  }

  protected async isReady(): Promise<boolean> {
    const ca = this.caFile ? readFileSync(this.caFile, 'utf8') : undefined;
    return (await httpGet(`${this.endpoint}/health`, ca ? { ca } : {})).status === 200;
  }
}
