// Whether a filesystem volume folds names: case-insensitive volumes (SMB,
// Azure Files, vfat, ext4 with casefold) and normalising ones (ZFS with
// `normalization`, APFS) store two keys that differ only in case or in
// NFC/NFD as one file, so writing both loses one. Found out once per job by
// experiment, as no portable API says so: create a probe name, then ask for
// its other spelling exclusively; EEXIST means the volume took it for the same
// name. The probes carry the staging prefix, so a listing never shows them,
// and are removed before the answer is given.
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';

export interface NameFolding {
  /** `a` and `A` name one file. */
  foldsCase: boolean;
  /** `é` as one code point (NFC) and as `e` + combining accent (NFD) name one file. */
  foldsNormalisation: boolean;
}

const exclusive = fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY | fsConstants.O_NOFOLLOW;

/** Whether `second` names a file other than `first` in `dir`: both are created, then removed. */
async function spellingsCollide(dir: string, first: string, second: string): Promise<boolean> {
  const created: string[] = [];
  try {
    await (await open(path.join(dir, first), exclusive, 0o600)).close();
    created.push(first);
    try {
      await (await open(path.join(dir, second), exclusive, 0o600)).close();
      created.push(second);
      return false;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return true;
      throw err;
    }
  } finally {
    // The second spelling of a folding volume is the first file: removing the first removes it.
    for (const name of created) await unlink(path.join(dir, name)).catch(() => undefined);
  }
}

/** Probes the volume of `dir` (a directory of the store, writable by this process). */
export async function probeNameFolding(dir: string): Promise<NameFolding> {
  const stem = `.ferry-tmp-fold-${randomBytes(6).toString('hex')}-`;
  return {
    foldsCase: await spellingsCollide(dir, `${stem}a`, `${stem}A`),
    foldsNormalisation: await spellingsCollide(dir, `${stem}\u00e9`, `${stem}e\u0301`),
  };
}
