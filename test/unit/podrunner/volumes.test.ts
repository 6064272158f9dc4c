// How the pod runner makes a container's mount paths resolve to host directories.
import { rewriteMountPaths, type HostMount } from '../../podrunner/volumes.ts';

const mounts: HostMount[] = [
  { volume: 'claim data', mountPath: '/data/store', hostPath: '/host/v/ns/data', readOnly: false },
  { volume: 'claim data', mountPath: '/data/store/in', hostPath: '/host/v/ns/data/inputs', readOnly: true },
];

describe('rewriteMountPaths', () => {
  const cases: Record<string, [string, string]> = {
    'the mount path itself': ['/data/store', '/host/v/ns/data'],
    'a path under it': ['/data/store/a/b.txt', '/host/v/ns/data/a/b.txt'],
    'the longer (nested) mount path first': ['/data/store/in/x', '/host/v/ns/data/inputs/x'],
    'inside a JSON value': ['{"mountPath":"/data/store"}', '{"mountPath":"/host/v/ns/data"}'],
    'after = and in a : list': [
      '--dir=/data/store:/data/store/in',
      '--dir=/host/v/ns/data:/host/v/ns/data/inputs',
    ],
    'not a longer name': ['/data/storex', '/data/storex'],
    'not a relative mention': ['data/store', 'data/store'],
    'not in the middle of another path': ['/x/data/store', '/x/data/store'],
  };
  it.each(Object.entries(cases))('%s', (_name, [value, expected]) => {
    expect(rewriteMountPaths(value, mounts)).toBe(expected);
  });

  it('never rewrites a host directory again (one pass)', () => {
    const nested: HostMount[] = [
      { volume: 'claim a', mountPath: '/host', hostPath: '/host/volumes/a', readOnly: false },
    ];
    expect(rewriteMountPaths('/host/file', nested)).toBe('/host/volumes/a/file');
  });
});
