// Filling a directory (a claim's host directory) and reading one back,
// independently of Ferry's filesystem driver: what end-to-end tests compare a
// job's outcome with on a filesystem side.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sha } from './bucketContents.ts';

/** Every regular file under `root`, as key → SHA-256: an independent walk of the volume. */
export function walk(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (dir: string, prefix: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const key = `${prefix}${entry.name}`;
      if (entry.isDirectory()) visit(path.join(dir, entry.name), `${key}/`);
      else if (entry.isFile()) out.set(key, sha(readFileSync(path.join(dir, entry.name))));
    }
  };
  visit(root, '');
  return out;
}

export function fill(root: string, contents: Map<string, Buffer>): void {
  for (const [key, body] of contents) {
    mkdirSync(path.dirname(path.join(root, key)), { recursive: true });
    writeFileSync(path.join(root, key), body);
  }
}
