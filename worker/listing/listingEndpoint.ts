// The worker's listing routes (api/listing.ts): the operator pages through the
// store of this worker's side, and asks for the checksums it needs, with the
// job's token. Served by both roles, next to the probes.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  checksumsPath,
  listingPath,
  maxChecksumKeys,
  maxListingPageObjects,
  nameFoldingPath,
  type ChecksumsResponse,
} from '../../api/listing.ts';
import { probeNameFolding, type NameFolding } from '../../storage/filesystemNameFolding.ts';
import type { ObjectStore } from '../../storage/objectStore.ts';
import type { Logger } from '../../common/logging.ts';
import { tokenMatches, type RouteHandler } from '../http/routes.ts';
import {
  answerFailure,
  errorResponse,
  fail,
  methodNotAllowed,
  send,
  storageErrorResponse,
  unauthorized,
} from '../transfer/receiving.ts';
import { ListingPager, toListed } from './listingPager.ts';
import { checksumsOf } from './objectHashing.ts';

/** Enough for maxChecksumKeys keys of 1024 bytes, JSON-escaped. */
const maxChecksumsBodyBytes = 8 * 1024 * 1024;

export interface ListingRouteOptions {
  /**
   * A directory that must exist for a listing to be served (a source
   * filesystem store's root): without it the listing fails with NoSuchPath
   * instead of reading as empty, since an empty source would plan deletes.
   */
  requiredDirectory?: string;
  /** A filesystem store's root: the volume nameFoldingPath probes (the nearest existing directory of it). */
  nameFoldingDirectory?: string;
}

export interface ListingRoute {
  handle: RouteHandler;
  close(): Promise<void>;
}

export function createListingRoute(
  store: ObjectStore,
  token: string,
  log: Logger,
  options: ListingRouteOptions = {},
): ListingRoute {
  const route: Route = { store, pager: new ListingPager(store), log, options };
  const methods = new Map([
    [listingPath, 'GET'],
    [checksumsPath, 'POST'],
    ...(options.nameFoldingDirectory !== undefined ? [[nameFoldingPath, 'GET'] as const] : []),
  ]);
  let folding: Promise<NameFolding> | undefined;
  return {
    handle: (req, res) => {
      const url = new URL(req.url ?? '/', 'http://worker');
      const method = methods.get(url.pathname);
      if (method === undefined) return false;
      if (!tokenMatches(req.headers.authorization, token)) fail(res, unauthorized());
      else if (req.method !== method) fail(res, methodNotAllowed(req.method, url.pathname));
      else if (url.pathname === nameFoldingPath)
        void serveNameFolding((folding ??= probeNearest(options.nameFoldingDirectory!)), res, log).catch(
          () => (folding = undefined), // a failed probe is tried again on the next request
        );
      else if (method === 'GET') void servePage(route, url, res);
      else void serveChecksums(route, req, res);
      return true;
    },
    close: () => route.pager.close(),
  };
}

/** What the route serves from. */
interface Route {
  store: ObjectStore;
  pager: ListingPager;
  log: Logger;
  options: ListingRouteOptions;
}

/** Answers GET listingPath: the page `url` asks for. */
async function servePage(
  { store, pager, log, options }: Route,
  url: URL,
  res: ServerResponse,
): Promise<void> {
  const params = url.searchParams;
  const limitParam = params.get('limit') ?? String(maxListingPageObjects);
  const limit = Number(limitParam);
  if (!/^\d+$/.test(limitParam) || limit < 1 || limit > maxListingPageObjects)
    return fail(
      res,
      errorResponse(
        400,
        'permanent',
        'BadRequest',
        `"limit" must be an integer from 1 to ${maxListingPageObjects}, got ${JSON.stringify(limitParam)}`,
      ),
    );
  const startAfter = params.get('startAfter') ?? undefined;
  try {
    if (options.requiredDirectory !== undefined && startAfter === undefined)
      await checkDirectory(options.requiredDirectory, store.description);
    const page = await pager.page({
      prefix: params.get('prefix') ?? '',
      startAfter,
      limit,
      checksums: params.get('checksums') === '1',
    });
    send(res, 200, page);
  } catch (err) {
    const response = err instanceof MissingDirectoryError ? err.response : storageErrorResponse(err);
    answerFailure(res, response, { log, message: 'listing failed' });
  }
}

/** The volume's name folding, probed in `dir` or its nearest existing ancestor (a destination root may not exist yet). */
async function probeNearest(dir: string): Promise<NameFolding> {
  for (let at = dir; ; at = path.dirname(at)) {
    const exists = await stat(at).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (exists || path.dirname(at) === at) return probeNameFolding(at);
  }
}

/** Answers GET nameFoldingPath; rejects (after answering) when the probe failed. */
async function serveNameFolding(
  folding: Promise<NameFolding>,
  res: ServerResponse,
  log: Logger,
): Promise<void> {
  try {
    send(res, 200, await folding);
  } catch (err) {
    answerFailure(res, storageErrorResponse(err), { log, message: 'name folding probe failed' });
    throw err;
  }
}

/** Answers POST checksumsPath: the SHA-256 of the objects the body names. */
async function serveChecksums(
  { store, log }: Route,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const bad = (message: string) => fail(res, errorResponse(400, 'permanent', 'BadRequest', message));
  let keys: unknown;
  try {
    keys = (JSON.parse(await readBody(req, maxChecksumsBodyBytes)) as { keys?: unknown }).keys;
  } catch (err) {
    return bad(`the body must be JSON { "keys": [...] }: ${(err as Error).message}`);
  }
  if (!Array.isArray(keys) || keys.length > maxChecksumKeys || keys.some((k) => typeof k !== 'string'))
    return bad(`"keys" must be an array of at most ${maxChecksumKeys} strings`);
  try {
    const objects = await checksumsOf(store, keys as string[]);
    send(res, 200, { objects: objects.map(toListed) } satisfies ChecksumsResponse);
  } catch (err) {
    answerFailure(res, storageErrorResponse(err), { log, message: 'checksums failed' });
  }
}

class MissingDirectoryError extends Error {
  readonly response: ReturnType<typeof errorResponse>;
  constructor(message: string) {
    super(message);
    this.response = errorResponse(404, 'permanent', 'NoSuchPath', message);
  }
}

async function checkDirectory(dir: string, store: string): Promise<void> {
  try {
    if ((await stat(dir)).isDirectory()) return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
  }
  throw new MissingDirectoryError(
    `${store}: the source path does not exist on the volume; nothing is planned from a missing source`,
  );
}

/** The request's body as text; rejects one larger than `limit` bytes. */
async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error(`it is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
