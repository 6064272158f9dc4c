// A prefix and a path name directories, in one spelling (docs/adr/0034).
import { directoriesNest, directoryPath, directoryPrefix } from '../../../api/storePaths.ts';

describe('directoryPrefix: an S3 prefix as a directory', () => {
  it.each([
    [undefined, ''],
    ['', ''],
    ['backup', 'backup/'],
    ['backup/', 'backup/'],
    ['a/b', 'a/b/'],
    ['a//', 'a//'],
  ])('%p is %p', (prefix, expected) => {
    expect(directoryPrefix(prefix)).toBe(expected);
  });
});

describe('directoryPath: a filesystem path as a directory', () => {
  it.each([
    [undefined, '/'],
    ['/', '/'],
    ['//', '/'],
    ['/in', '/in/'],
    ['/in/', '/in/'],
    ['//in//x', '/in/x/'],
    ['/./in', '/in/'],
  ])('%p is %p', (path, expected) => {
    expect(directoryPath(path)).toBe(expected);
  });
});

describe('directoriesNest', () => {
  it.each([
    ['backup/', 'backup/', true],
    ['data/', 'data/in/', true],
    ['data/in/', 'data/', true],
    ['', 'anything/', true],
    ['backup/', 'backup-old/', false],
    ['/in/', '/inbox/', false],
  ])('%p and %p: %p', (a, b, expected) => {
    expect(directoriesNest(a, b)).toBe(expected);
  });
});
