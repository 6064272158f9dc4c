// The bridge the pods' veths hang on (clusterNetwork.ts): created in the host's
// network namespace by the bed, deleted by its teardown. Its presence is also
// the cluster tier's lock: there is one ferry0 per machine, so a second tier
// started while one runs fails here with a clear error instead of sharing it.
//
// The lock names its holder in /run (tmpfs: gone with a reboot, as the bridge
// is): the owner's pid, its watchdog's and its directory. A tier whose owner
// and watchdog were both ended without a teardown (a session stopped, every
// process it left killed) leaves the bridge and host state behind; the next
// tier finds its holder dead and reaps it, instead of refusing the machine.
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { processAlive } from '../bed/pidFiles.ts';
import { bridgeName, hostAddress, podPrefixLength } from './clusterNetwork.ts';

const run = promisify(execFile);

async function ip(args: string[]): Promise<string> {
  try {
    return (await run('ip', args)).stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`ip ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

export async function bridgeExists(): Promise<boolean> {
  return (await ip(['-o', 'link', 'show'])).split('\n').some((line) => line.includes(` ${bridgeName}:`));
}

/** Who holds ferry0: the tier's owner, its watchdog once started, and its directory. */
export interface BridgeHolder {
  pid: number;
  watchdogPid?: number;
  dir: string;
}

const holderFile = `/run/${bridgeName}.holder.json`;

/** Records (or updates) who holds ferry0. */
export function recordBridgeHolder(holder: BridgeHolder): void {
  writeFileSync(holderFile, JSON.stringify(holder));
}

/** The holder of a ferry0 whose owner and watchdog are both gone: an abandoned tier to reap. */
export function abandonedHolder(): BridgeHolder | undefined {
  let holder: BridgeHolder;
  try {
    holder = JSON.parse(readFileSync(holderFile, 'utf8')) as BridgeHolder;
  } catch {
    return undefined; // none recorded: a live tier of another kind, or nothing
  }
  const live = [holder.pid, holder.watchdogPid].some((pid) => pid !== undefined && processAlive(pid));
  return live ? undefined : holder;
}

/**
 * Creates ferry0 with the host's address, up, held by `holder`. If it exists (another tier
 * runs), waits up to `waitMs` for it to go, then fails. Creating the link is atomic, so of two
 * tiers starting at once exactly one gets it.
 */
export async function createPodBridge(holder: BridgeHolder, waitMs = 0): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await ip(['link', 'add', bridgeName, 'type', 'bridge']);
      break;
    } catch (err) {
      if (!(await bridgeExists())) throw err;
      if (Date.now() >= deadline) {
        throw new Error(
          `bridge ${bridgeName} already exists: another cluster tier is running on this machine ` +
            `(or one died without its watchdog; 'ip link del ${bridgeName}' once nothing uses it)`,
          { cause: err },
        );
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
  recordBridgeHolder(holder);
  await ip(['addr', 'add', `${hostAddress}/${podPrefixLength}`, 'dev', bridgeName]);
  await ip(['link', 'set', bridgeName, 'up']);
}

/** Deletes ferry0 (and with it the route to the pod subnet); nothing if it is gone. */
export async function deletePodBridge(): Promise<void> {
  if (await bridgeExists()) await ip(['link', 'del', bridgeName]);
  rmSync(holderFile, { force: true });
}
