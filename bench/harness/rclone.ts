// rclone, the peer tool the transfer benchmarks compare Ferry with, run as a
// user would: `rclone copy src:<bucket> dst:<bucket>` between the same two S3
// endpoints Ferry's job uses. Its remotes are configured through RCLONE_CONFIG_*
// environment variables (no config file), so nothing on the machine leaks in.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toolPath } from '../../test/bed/tools.ts';
import type { S3Endpoint } from './buckets.ts';

export interface RcloneRun {
  seconds: number;
  /** From spawn to rclone's first "Copied" log line (its first object written), if any. */
  firstCopiedSeconds?: number;
  peakRssMB: number;
  /** rclone's own CPU time, user + system. */
  cpuSeconds: number;
}

function remoteEnv(remote: string, s3: S3Endpoint): Record<string, string> {
  const prefix = `RCLONE_CONFIG_${remote.toUpperCase()}_`;
  return {
    [`${prefix}TYPE`]: 's3',
    [`${prefix}PROVIDER`]: 'Other',
    [`${prefix}ENDPOINT`]: s3.endpoint,
    [`${prefix}REGION`]: s3.region,
    [`${prefix}ACCESS_KEY_ID`]: s3.credentials.accessKeyId,
    [`${prefix}SECRET_ACCESS_KEY`]: s3.credentials.secretAccessKey,
    [`${prefix}FORCE_PATH_STYLE`]: 'true',
  };
}

/**
 * Runs `rclone copy src:<from> dst:<to> <flags>` under /usr/bin/time (for its
 * peak RSS and CPU time) and resolves with its wall time; rejects when rclone fails.
 */
export async function rcloneCopy(
  source: S3Endpoint,
  destination: S3Endpoint,
  from: string,
  to: string,
  flags: string[],
): Promise<RcloneRun> {
  const usageFile = path.join(os.tmpdir(), `ferry-bench-rclone-${process.pid}-${Date.now()}.usage`);
  const args = ['copy', `src:${from}`, `dst:${to}`, '-v', ...flags];
  const began = performance.now();
  const child = spawn('/usr/bin/time', ['-f', '%M %U %S', '-o', usageFile, toolPath('rclone'), ...args], {
    env: {
      PATH: process.env.PATH,
      HOME: os.tmpdir(),
      RCLONE_CONFIG: '/dev/null',
      ...remoteEnv('src', source),
      ...remoteEnv('dst', destination),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let firstCopiedSeconds: number | undefined;
  let tail = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    // Looked for in the tail too: a log line may arrive split over two chunks.
    tail = (tail + chunk).slice(-4000);
    if (firstCopiedSeconds === undefined && tail.includes(': Copied (')) {
      firstCopiedSeconds = (performance.now() - began) / 1000;
    }
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  const seconds = (performance.now() - began) / 1000;
  if (code !== 0) throw new Error(`rclone ${args.join(' ')} exited with ${code}:\n${tail}`);
  const [peakKiB, user, system] = readFileSync(usageFile, 'utf8')
    .trim()
    .split('\n')
    .pop()!
    .split(' ')
    .map(Number);
  rmSync(usageFile, { force: true });
  return { seconds, firstCopiedSeconds, peakRssMB: Math.round(peakKiB! / 1024), cpuSeconds: user! + system! };
}

export function rcloneVersion(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(toolPath('rclone'), ['version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('exit', () => resolve(out.split('\n')[0]!.trim()));
  });
}
