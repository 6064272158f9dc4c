// How a filesystem store reaches a directory without ever following a
// symbolic link inside the store (docs/adr/0037). Node has no openat(2) nor
// openat2(RESOLVE_BENEATH), so on Linux each component is opened relative to
// its parent's open descriptor, through the parent's /proc/self/fd/<fd>
// entry, with O_DIRECTORY | O_NOFOLLOW: a link is refused instead of
// traversed, and because every later operation (create, rename, unlink, list)
// names the held descriptor rather than a path, a directory swapped for a
// link after it was opened is never entered. Where /proc is missing (not
// Linux), the same walk runs on plain paths: each component is still refused
// when it is a link, but a swap between the walk and the operation that
// follows it is not caught (the window the ADR describes).
import { constants as fsConstants, existsSync } from 'node:fs';
import { lstat, mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** The system error code (`ENOENT`, …) of a failed file operation. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

const descriptorDir = '/proc/self/fd';
let byDescriptor: boolean | undefined;

/** Whether directories can be named by their open descriptor (Linux /proc). */
function namedByDescriptor(): boolean {
  return (byDescriptor ??= existsSync(descriptorDir));
}

/** An open directory of the store. */
export interface HeldDirectory {
  /** A path naming this very directory (not re-resolved through its parents): entries are `entry(name)`. */
  readonly path: string;
  /** The path of the entry `name` (one component) of this directory. */
  entry(name: string): string;
  /** fsyncs the directory (after a rename into it). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Why a component cannot be walked through: a link, or a file where a directory should be. */
export type BlockedComponent = 'symlink' | 'file';

/** Builds the error for a blocked component (`index` into the walked segments). */
export type RefuseComponent = (index: number, blocked: BlockedComponent) => Error;

const directoryFlags = fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW;

function hold(handle: FileHandle, realPath: string): HeldDirectory {
  const own = namedByDescriptor() ? `${descriptorDir}/${handle.fd}` : realPath;
  return {
    path: own,
    entry: (name) => `${own}/${name}`,
    sync: () => handle.sync(),
    close: () => handle.close(),
  };
}

/**
 * Opens `top` (the volume's mount path: configuration, so it may itself be
 * reached through links) and then each of `segments` below it, refusing any
 * that is a symbolic link or not a directory (`refuse`). A missing component
 * is created when `create`, else the result is undefined. Other system errors
 * are thrown as they are.
 */
export async function openBeneath(
  top: string,
  segments: readonly string[],
  create: boolean,
  refuse: RefuseComponent,
): Promise<HeldDirectory | undefined> {
  let realPath = top;
  let held: HeldDirectory | undefined = hold(
    await open(top, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY),
    realPath,
  );
  try {
    for (const [index, name] of segments.entries()) {
      realPath = path.join(realPath, name);
      const next: HeldDirectory | undefined = await openChild(held, name, realPath, create, (b) =>
        refuse(index, b),
      );
      await held.close();
      held = next;
      if (held === undefined) return undefined;
    }
    return held;
  } catch (err) {
    await held?.close().catch(() => undefined);
    throw err;
  }
}

async function openChild(
  parent: HeldDirectory,
  name: string,
  realPath: string,
  create: boolean,
  refuse: (blocked: BlockedComponent) => Error,
): Promise<HeldDirectory | undefined> {
  const child = parent.entry(name);
  for (let attempt = 0; ; attempt++) {
    try {
      return hold(await open(child, directoryFlags), realPath);
    } catch (err) {
      const code = errnoCode(err);
      // A concurrent delete may prune a directory we just made: make it again, a few times.
      if (code === 'ENOENT' && create && attempt < 3) {
        await mkdir(child).catch((e: unknown) => {
          if (errnoCode(e) !== 'EEXIST') throw e;
        });
        continue;
      }
      if (code === 'ENOENT') return undefined;
      if (code === 'ELOOP' || code === 'ENOTDIR') throw (await blockedBy(child)) ?? err;
      throw err;
    }
  }

  async function blockedBy(child: string): Promise<Error | undefined> {
    const info = await lstat(child).catch(() => undefined);
    if (info?.isSymbolicLink()) return refuse('symlink');
    if (info !== undefined && !info.isDirectory()) return refuse('file');
    return undefined;
  }
}
