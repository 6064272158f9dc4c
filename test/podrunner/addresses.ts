// Pod addresses: every pod gets its own loopback address 127.0.x.y (x ≥ 1, so
// never 127.0.0.1 nor systemd-resolved's 127.0.0.53), which Linux routes to `lo`
// without any setup. Several runners may share the machine (one per test file,
// in parallel jest workers), so an address is leased through a file named after
// it in a shared directory, holding the owner's pid; a dead owner's lease is
// taken over.
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { processAlive } from '../bed/pidFiles.ts';

const perBlock = 254; // y in 1..254
const total = 255 * perBlock; // x in 1..255

export const defaultLeaseDir = path.join(os.tmpdir(), 'ferry-podrunner-addresses');

export class AddressPool {
  readonly leaseDir: string;
  private readonly held = new Set<string>();
  private cursor: number;

  constructor(leaseDir = defaultLeaseDir) {
    this.leaseDir = leaseDir;
    mkdirSync(leaseDir, { recursive: true });
    // Runners start at different points, so they rarely contend for a lease.
    this.cursor = Math.floor(Math.random() * total);
  }

  /** Leases a free address. Addresses are handed out round-robin, so a released one is not reused at once. */
  allocate(): string {
    for (let i = 0; i < total; i++) {
      const n = (this.cursor + i) % total;
      const ip = `127.0.${1 + Math.floor(n / perBlock)}.${1 + (n % perBlock)}`;
      if (this.lease(ip)) {
        this.cursor = (n + 1) % total;
        this.held.add(ip);
        return ip;
      }
    }
    throw new Error(`no free pod address left (leases in ${this.leaseDir})`);
  }

  release(ip: string): void {
    if (!this.held.delete(ip)) return;
    try {
      unlinkSync(this.file(ip));
    } catch {
      // already gone
    }
  }

  releaseAll(): void {
    for (const ip of [...this.held]) this.release(ip);
  }

  get inUse(): number {
    return this.held.size;
  }

  private file(ip: string): string {
    return path.join(this.leaseDir, ip);
  }

  private lease(ip: string): boolean {
    if (this.create(ip)) return true;
    let owner: number;
    try {
      owner = Number(readFileSync(this.file(ip), 'utf8'));
    } catch {
      return this.create(ip); // released in the meantime
    }
    if (owner === process.pid || (Number.isInteger(owner) && owner > 0 && processAlive(owner))) return false;
    try {
      unlinkSync(this.file(ip)); // its owner died without releasing it
    } catch {
      // another runner took it over first
    }
    return this.create(ip);
  }

  private create(ip: string): boolean {
    let fd: number;
    try {
      fd = openSync(this.file(ip), 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    try {
      writeSync(fd, String(process.pid));
    } finally {
      closeSync(fd);
    }
    return true;
  }
}
