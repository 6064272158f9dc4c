import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  crdFile,
  generate,
  loadCrd,
  outputFile,
  repoRoot,
  undocumentedFields,
} from '../../../api/generate.ts';

const read = (file: string) => readFileSync(path.join(repoRoot, file), 'utf8');

/** Where two texts first differ, as "line N: expected … / committed …". */
function firstDifference(expected: string, actual: string): string {
  const want = expected.split('\n');
  const have = actual.split('\n');
  const line = want.findIndex((l, i) => l !== have[i]);
  const at = line === -1 ? want.length : line;
  return `line ${at + 1}: generated ${JSON.stringify(want[at] ?? '<end>')}, committed ${JSON.stringify(have[at] ?? '<end>')}`;
}

describe('the generated ReplicationJob types', () => {
  it('are exactly what api/generate.ts makes from the CRD, so they are never stale', async () => {
    const generated = await generate(read(crdFile));
    const committed = read(outputFile);
    if (generated !== committed) {
      throw new Error(
        `${outputFile} is stale: it differs from what ${crdFile} generates (${firstDifference(generated, committed)}). ` +
          'Run `node api/generate.ts` and commit the result.',
      );
    }
  });

  it('name the API group, version, kind and plural the CRD serves', async () => {
    const api = await import('../../../api/v1alpha1/index.ts');
    const crd = loadCrd(read(crdFile));
    expect({ group: api.group, version: api.version, kind: api.kind, plural: api.plural }).toEqual({
      group: crd.spec.group,
      version: crd.spec.versions[0]!.name,
      kind: crd.spec.names.kind,
      plural: crd.spec.names.plural,
    });
    expect(api.replicationModes).toEqual(['Copy', 'Sync']);
    expect(api.checksumAlgorithms).toEqual(['SHA256']);
  });

  it('come from a CRD whose every field has a description, so kubectl explain documents it', () => {
    const crd = loadCrd(read(crdFile));
    expect(undocumentedFields(crd.spec.versions[0]!.schema.openAPIV3Schema)).toEqual([]);
  });

  it('are not generated from a CRD with an undocumented field', async () => {
    const undocumented = read(crdFile).replace(/\n(\s+)description: Number of worker pods\.\n/, '\n');
    await expect(generate(undocumented)).rejects.toThrow(
      /without a description: .*spec\.workers\.source\.replicas/,
    );
  });
});
