// How a container's command becomes a local command. The image runs compiled
// JavaScript from dist/ laid out like the source tree, with the repository's
// root as its working directory; locally we run the TypeScript sources directly.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { repoRoot } from '../bed/tools.ts';

export interface Entrypoint {
  command: string;
  args: string[];
  /** Working directory; the repository's root when unset. */
  cwd?: string;
}

export interface EntrypointContext {
  /** The container's workingDir, if any. */
  workingDir?: string;
  pod: k8s.V1Pod;
}

/** Maps a container (image, command, args: after $(VAR) expansion) to a local command. */
export type ResolveEntrypoint = (
  image: string,
  command: string[],
  args: string[],
  context?: EntrypointContext,
) => Entrypoint;

/** A container workingDir, as a local directory under the repository's root. */
export function localWorkingDir(workingDir: string | undefined): string {
  if (!workingDir) return repoRoot;
  if (path.isAbsolute(workingDir) && existsSync(workingDir)) return workingDir;
  return path.join(repoRoot, workingDir);
}

/**
 * The default for any image: `node SCRIPT ...` runs this Node (process.execPath)
 * with SCRIPT resolved against the working directory (or the repository's root),
 * a missing `x.js` replaced by the `x.ts` beside it; any other command runs as given.
 */
export const defaultResolveEntrypoint: ResolveEntrypoint = (image, command, args, context) => {
  const cwd = localWorkingDir(context?.workingDir);
  // Without a command the image's ENTRYPOINT would run; we do not know it, so args must say it all.
  const argv = command.length > 0 ? [...command, ...args] : [...args];
  const program = argv[0];
  if (program === undefined) {
    throw new Error(
      `image ${image}: the container has no command, and the image's entrypoint is unknown here`,
    );
  }
  if (program === 'node' || (path.basename(program) === 'node' && !existsSync(program))) {
    return { command: process.execPath, args: nodeArgs(argv.slice(1), cwd), cwd };
  }
  return { command: program, args: argv.slice(1), cwd };
};

// Node options whose value is the next argument.
const optionsWithValue = new Set([
  '-r',
  '--require',
  '--import',
  '--loader',
  '--experimental-loader',
  '--input-type',
  '-C',
  '--conditions',
  '--env-file',
  '--title',
]);

function nodeArgs(args: string[], cwd: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-e' || arg === '--eval' || arg === '-p' || arg === '--print') {
      return [...out, ...args.slice(i)]; // inline code: no script, the rest is argv
    }
    if (arg === '--') {
      const script = args[i + 1];
      return script === undefined
        ? [...out, arg]
        : [...out, arg, localScript(script, cwd), ...args.slice(i + 2)];
    }
    if (optionsWithValue.has(arg)) {
      out.push(arg, ...(args[i + 1] === undefined ? [] : [args[i + 1]!]));
      i++;
      continue;
    }
    if (arg.startsWith('-')) {
      out.push(arg);
      continue;
    }
    return [...out, localScript(arg, cwd), ...args.slice(i + 1)];
  }
  return out;
}

function localScript(script: string, cwd: string): string {
  const candidates = path.isAbsolute(script)
    ? [script]
    : [path.resolve(cwd, script), path.resolve(repoRoot, script)];
  for (const file of candidates) {
    if (existsSync(file)) return file;
    const ts = file.replace(/\.(m|c)?js$/, (_m, kind: string | undefined) => `.${kind ?? ''}ts`);
    if (ts !== file && existsSync(ts)) return ts;
  }
  return candidates[0]!; // let node report it missing, as the container would
}
