// What the worker's HTTP routes share: the handler shape the probe server
// mounts them by, and the bearer-token check every route makes first.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Handles `req` when it is for this route's paths (returns true), else returns false and leaves it alone. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Whether `header` is `Bearer <token>`, compared in constant time (no early exit, no length leak). */
export function tokenMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false;
  // Equal-length digests, so timingSafeEqual compares them whatever the presented length.
  const presented = createHash('sha256').update(header.slice('Bearer '.length), 'utf8').digest();
  const expected = createHash('sha256').update(token, 'utf8').digest();
  return timingSafeEqual(presented, expected) && token.length > 0;
}
