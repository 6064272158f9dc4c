// The worker's listing route (api/listing.ts): the operator pages through the
// store of this worker's side, with the job's token. Served by both roles,
// next to the probes.
import { stat } from 'node:fs/promises';
import { listingPath, maxListingPageObjects } from '../../api/listing.ts';
import type { ObjectStore } from '../storage/objectStore.ts';
import { tokenMatches, type RouteHandler, type TransferLog } from '../transfer/destinationEndpoint.ts';
import { errorResponse, send, storageErrorResponse } from '../transfer/receiving.ts';
import { ListingPager } from './listingPager.ts';

export interface ListingRouteOptions {
  /**
   * A directory that must exist for a listing to be served (a source
   * filesystem store's root): without it the listing fails with NoSuchPath
   * instead of reading as empty, since an empty source would plan deletes.
   */
  requiredDirectory?: string;
}

export interface ListingRoute {
  handle: RouteHandler;
  close(): Promise<void>;
}

export function createListingRoute(
  store: ObjectStore,
  token: string,
  log: TransferLog,
  options: ListingRouteOptions = {},
): ListingRoute {
  const pager = new ListingPager(store);

  async function serve(url: URL, res: Parameters<RouteHandler>[1]): Promise<void> {
    const params = url.searchParams;
    const limitParam = params.get('limit') ?? String(maxListingPageObjects);
    const limit = Number(limitParam);
    if (!/^\d+$/.test(limitParam) || limit < 1 || limit > maxListingPageObjects) {
      const e = errorResponse(
        400,
        'permanent',
        'BadRequest',
        `"limit" must be an integer from 1 to ${maxListingPageObjects}, got ${JSON.stringify(limitParam)}`,
      );
      send(res, e.status, e.body);
      return;
    }
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
      const e = err instanceof MissingDirectoryError ? err.response : storageErrorResponse(err);
      log.warn('listing failed', { status: e.status, code: e.body.error.code, error: e.body.error.message });
      send(res, e.status, e.body);
    }
  }

  return {
    handle: (req, res) => {
      const url = new URL(req.url ?? '/', 'http://worker');
      if (url.pathname !== listingPath) return false;
      if (!tokenMatches(req.headers.authorization, token)) {
        const e = errorResponse(401, 'permanent', 'Unauthorized', 'missing or wrong bearer token');
        send(res, e.status, e.body);
      } else if (req.method !== 'GET') {
        const e = errorResponse(
          405,
          'permanent',
          'MethodNotAllowed',
          `${req.method} is not allowed on ${listingPath}`,
        );
        send(res, e.status, e.body);
      } else {
        void serve(url, res);
      }
      return true;
    },
    close: () => pager.close(),
  };
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
