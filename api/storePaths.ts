// What a store's place inside its bucket or volume means (docs/adr/0034): a
// non-empty S3 prefix and a filesystem path each name a directory. The S3
// driver, the operator's overlap check and the CRD's CEL rules all read them
// through these functions, so listing, key mapping, filters, deletes and the
// apply-time refusals agree on one meaning.

/**
 * The S3 prefix as a directory: '' (the whole bucket) stays '', anything else
 * ends with exactly the '/' it was given or one added — "backup" is
 * "backup/", so it never reaches "backup-old/…" or "backupx.txt". A leading
 * '/' is refused by the CRD; it is kept here, literally, for a config that
 * did not come through it.
 */
export function directoryPrefix(prefix: string | undefined): string {
  if (!prefix) return '';
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/**
 * A filesystem path as the directory it names, in one spelling: '/' for the
 * root, otherwise '/a/b/' — empty and '.' segments dropped, so '/in',
 * '/in/', '//in' and '/./in' are one directory (as the worker joins them).
 */
export function directoryPath(path: string | undefined): string {
  const segments = (path ?? '/').split('/').filter((s) => s !== '' && s !== '.');
  return segments.length === 0 ? '/' : `/${segments.join('/')}/`;
}

/** Whether one directory (in the spelling above) lies inside the other, or they are the same. */
export function directoriesNest(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}
