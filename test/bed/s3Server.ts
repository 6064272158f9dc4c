// An S3-compatible server on loopback: versitygw serving a POSIX directory.
// It is a real S3 implementation (signature v4, multipart, listing v2), not a mock.
import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { freePort, httpGet } from './network.ts';
import { BedServer } from './server.ts';
import { toolPath } from './tools.ts';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export class S3Server extends BedServer {
  readonly endpoint: string;
  readonly region = 'us-east-1';
  readonly credentials: S3Credentials;

  private constructor(bedDir: string, name: string, port: number) {
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
          `127.0.0.1:${port}`,
          '--access',
          credentials.accessKeyId,
          '--secret',
          credentials.secretAccessKey,
          '--region',
          'us-east-1',
          '--health',
          '/health',
          '--quiet',
          'posix',
          rootDir,
        ],
      },
      20_000,
    );
    this.endpoint = `http://127.0.0.1:${port}`;
    this.credentials = credentials;
  }

  static async create(bedDir: string, name = 's3'): Promise<S3Server> {
    return new S3Server(bedDir, name, await freePort());
  }

  protected async isReady(): Promise<boolean> {
    return (await httpGet(`${this.endpoint}/health`)).status === 200;
  }
}
