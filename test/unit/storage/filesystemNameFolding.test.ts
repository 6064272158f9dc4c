import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { probeNameFolding } from '../../../storage/filesystemNameFolding.ts';

describe('probing a volume for name folding', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ferry-fold-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('finds that this test volume keeps case and normalisation apart, and leaves nothing behind', async () => {
    // The test machine's tmp is ext4/overlay/tmpfs: byte-exact names.
    expect(await probeNameFolding(dir)).toEqual({ foldsCase: false, foldsNormalisation: false });
    expect(await readdir(dir)).toEqual([]);
  });

  it('fails, naming the cause, on a directory it cannot write', async () => {
    await expect(probeNameFolding(path.join(dir, 'missing'))).rejects.toThrow(/ENOENT/);
  });
});
