// The `ip` and `nft` commands the service network runs on the host, with
// errors that name the command and carry its stderr.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function command(file: string, args: readonly string[], input?: string): Promise<string> {
  try {
    const child = run(file, [...args], { timeout: 10_000 });
    if (input !== undefined) child.child.stdin?.end(input);
    return (await child).stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string; code?: unknown };
    if (e.code === 'ENOENT') {
      const hint = file === 'nft' ? ": run 'make tools' (tools/install.sh installs Debian's nftables)" : '';
      throw new Error(`${file} not found on PATH${hint}`, { cause: err });
    }
    throw new Error(`${file} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

export function ip(args: readonly string[]): Promise<string> {
  return command('ip', args);
}

/** Runs `nft`; `script` (an nft ruleset file's text) is read from stdin with `-f -`. */
export function nft(args: readonly string[], script?: string): Promise<string> {
  return command('nft', script === undefined ? args : ['-f', '-', ...args], script);
}

export interface NftTable {
  family: string;
  name: string;
}

/** Every nftables table on the host. */
export async function nftTables(): Promise<NftTable[]> {
  const listed = JSON.parse(await nft(['-j', 'list', 'tables'])) as { nftables: { table?: NftTable }[] };
  return listed.nftables.flatMap((entry) =>
    entry.table ? [{ family: entry.table.family, name: entry.table.name }] : [],
  );
}

/** Deletes the tables named `name` (in any family); resolves with how many there were. */
export async function deleteNftTables(name: string): Promise<number> {
  const tables = (await nftTables()).filter((t) => t.name === name);
  for (const table of tables) await nft(['delete', 'table', table.family, table.name]);
  return tables.length;
}

/** The routes of the main table to exactly `prefix`, as `ip -j route` reports them. */
export async function routesTo(prefix: string): Promise<{ dst: string; dev?: string }[]> {
  const routes = JSON.parse(await ip(['-j', 'route', 'show', 'exact', prefix])) as {
    dst: string;
    dev?: string;
  }[];
  return routes;
}

/** The device the host would send a packet to `address` out of (a lookup: nothing is sent). */
export async function routeDeviceFor(address: string): Promise<string | undefined> {
  const [route] = JSON.parse(await ip(['-j', 'route', 'get', address])) as { dev?: string }[];
  return route?.dev;
}
