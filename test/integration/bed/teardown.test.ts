import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../../support/wait.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the bed after its owner is killed', () => {
  it('leaves no server process and no data directory behind', async () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), 'ferry-orphan-'));
    const dir = path.join(parent, 'bed');
    const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'bedOwner.ts');
    const owner = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pids = await new Promise<number[]>((resolve, reject) => {
      let out = '';
      owner.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(JSON.parse(out));
      });
      owner.once('exit', (code) => reject(new Error(`bed owner exited early with code ${code}`)));
    });
    expect(pids).toHaveLength(5);
    expect(pids.every(alive)).toBe(true);

    owner.kill('SIGKILL'); // no teardown runs: as when a test run crashes

    await waitFor('the watchdog to reap every server', async () => pids.every((pid) => !alive(pid)), 20_000);
    await waitFor('the bed directory to be removed', async () => !existsSync(dir), 10_000);
    rmSync(parent, { recursive: true, force: true });
  });
});
