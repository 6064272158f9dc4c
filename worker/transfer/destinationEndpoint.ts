// The destination worker's side of a copy (see protocol.ts for the contract):
// HTTP routes that stream each PUT body into the destination store, delete on
// DELETE, and receive large objects part by part (partEndpoint.ts). Mounted
// next to the worker's probes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../common/logging.ts';
import { tokenMatches, type RouteHandler } from '../http/routes.ts';
import type { WorkerMetrics } from '../metrics.ts';
import type { ObjectStore } from '../../storage/objectStore.ts';
import { createPartRoutes } from './partEndpoint.ts';
import { completePath, objectsPath, partsPath, type PutResult } from './protocol.ts';
import {
  answerFailure,
  committedMessage,
  declaredBody,
  errorResponse,
  fail,
  isErrorResponse,
  methodNotAllowed,
  receiveBody,
  send,
  storageErrorResponse,
  unauthorized,
} from './receiving.ts';
import type { UploadRegistry } from './uploadRegistry.ts';

/**
 * The handler of the transfer routes over `store`, accepting only requests
 * that carry `token`. Never buffers a body: it is piped into the store
 * (back-pressure included); a request cut short makes the body stream error,
 * so the store commits nothing. Without `uploads` (the registry of multipart
 * uploads), the part routes answer 404.
 */
export function createDestinationHandler(
  store: ObjectStore,
  token: string,
  log: Logger,
  uploads?: UploadRegistry,
  metrics?: WorkerMetrics,
): RouteHandler {
  const parts = uploads ? createPartRoutes(store, uploads, log, metrics) : undefined;
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://destination');
    const isPart = url.pathname === partsPath || url.pathname === completePath;
    if (url.pathname !== objectsPath && !(isPart && parts)) return false;

    if (!tokenMatches(req.headers.authorization, token)) {
      fail(res, unauthorized());
      return true;
    }
    const key = url.searchParams.get('key');
    if (key === null || key === '') {
      fail(
        res,
        errorResponse(400, 'permanent', 'InvalidKey', 'the "key" query parameter is missing or empty'),
      );
      return true;
    }
    if (isPart) {
      parts!(req, res, url, key);
      return true;
    }
    if (req.method === 'PUT') void put(req, res, key);
    else if (req.method === 'DELETE') void remove(res, key);
    else fail(res, methodNotAllowed(req.method, objectsPath));
    return true;
  };

  async function put(req: IncomingMessage, res: ServerResponse, key: string): Promise<void> {
    const declared = declaredBody(req);
    if (isErrorResponse(declared)) return fail(res, declared);
    const incoming = receiveBody(req, key);
    try {
      const written = await store.write(key, incoming.body, { size: declared.size, ...declared.checks });
      const result: PutResult = { sha256: written.sha256, size: written.size };
      // One line per committed object at debug level: the audit trail of what this job wrote.
      log.debug(committedMessage, { key, bytes: written.size, sha256: written.sha256 });
      metrics?.bytes.inc({ direction: 'received' }, written.size);
      metrics?.objects.inc({ operation: 'committed' });
      send(res, 201, result);
    } catch (err) {
      if (incoming.aborted()) {
        // The client is gone (or going): there is nobody to answer.
        log.warn('transfer aborted by the client; nothing written', { key });
        res.destroy();
        return;
      }
      answerFailure(res, storageErrorResponse(err), {
        log,
        message: 'transfer failed',
        meta: { key },
        metrics,
      });
    } finally {
      incoming.release();
    }
  }

  async function remove(res: ServerResponse, key: string): Promise<void> {
    try {
      await store.delete(key);
      metrics?.objects.inc({ operation: 'deleted' });
      send(res, 204);
    } catch (err) {
      answerFailure(res, storageErrorResponse(err), {
        log,
        message: 'delete failed',
        meta: { key },
        metrics,
      });
    }
  }
}
