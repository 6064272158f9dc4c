// The worker's listing pages: what the operator's planner receives, page by page.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ListingPage } from '../../../../api/listing.ts';
import { ListingPager } from '../../../../worker/listing/listingPager.ts';
import { FilesystemStore } from '../../../../storage/filesystemStore.ts';
import type { ObjectStore } from '../../../../storage/objectStore.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function storeWith(keys: string[]): { store: FilesystemStore; root: string } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ferry-pager-'));
  dirs.push(root);
  for (const key of keys) {
    mkdirSync(path.dirname(path.join(root, key)), { recursive: true });
    writeFileSync(path.join(root, key), `content of ${key}`);
  }
  return { store: new FilesystemStore({ claimName: 'c', mountPath: root }), root };
}

/** `store`, counting the walks started (list calls). */
function counting(store: ObjectStore): { store: ObjectStore; walks: () => number } {
  let walks = 0;
  const wrapped = Object.create(store) as ObjectStore;
  wrapped.list = (...args) => {
    walks++;
    return store.list(...args);
  };
  return { store: wrapped, walks: () => walks };
}

async function allPages(pager: ListingPager, limit: number, checksums = false): Promise<ListingPage[]> {
  const pages: ListingPage[] = [];
  let startAfter: string | undefined;
  for (;;) {
    const page = await pager.page({ prefix: '', startAfter, limit, checksums });
    pages.push(page);
    if (page.complete) return pages;
    startAfter = page.objects.at(-1)!.key;
  }
}

const keys = Array.from({ length: 23 }, (_, i) => `d${i % 3}/sub ${i % 2}/${i}+%.txt`);

describe('ListingPager', () => {
  it('cuts the store’s listing into pages that add up to it, the last one marked complete', async () => {
    const { store } = storeWith(keys);
    const pages = await allPages(new ListingPager(store), 5);
    expect(pages.map((p) => p.objects.length)).toEqual([5, 5, 5, 5, 3]);
    expect(pages.map((p) => p.complete)).toEqual([false, false, false, false, true]);
    const direct = [];
    for await (const o of store.list('')) direct.push(o.key);
    expect(pages.flatMap((p) => p.objects.map((o) => o.key))).toEqual(direct);
  });

  it('continues the same walk for the next page instead of walking the tree again', async () => {
    const { store, walks } = counting(storeWith(keys).store);
    const pager = new ListingPager(store);
    await allPages(pager, 4);
    expect(walks()).toBe(1);
    // A page asked for from elsewhere (another operator, a retry) starts its own walk.
    await pager.page({ prefix: '', startAfter: 'd1', limit: 4, checksums: false });
    expect(walks()).toBe(2);
    await pager.close();
  });

  it('hashes each object’s content when asked, and leaves out one deleted before it was hashed', async () => {
    const { store, root } = storeWith(keys);
    const sorted: string[] = [];
    for await (const o of store.list('')) sorted.push(o.key);
    const pager = new ListingPager(store);
    const first = await pager.page({ prefix: '', limit: 5, checksums: true });
    for (const o of first.objects)
      expect(o.sha256).toBe(createHash('sha256').update(`content of ${o.key}`).digest('hex'));
    // The walk has read past sorted[5]; delete it before its page is hashed.
    unlinkSync(path.join(root, sorted[5]!));
    const second = await pager.page({ prefix: '', startAfter: sorted[4], limit: 5, checksums: true });
    expect(second.objects.map((o) => o.key)).toEqual(sorted.slice(6, 10));
    await pager.close();
  });
});
