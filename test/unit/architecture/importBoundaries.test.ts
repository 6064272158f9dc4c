// The floor plan holds (ADR 0023): every relative import in api/, common/,
// storage/, operator/ and worker/ stays inside what its component may import,
// and no files of theirs import each other in a cycle.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  components,
  describeViolation,
  forbiddenImports,
  importCycles,
  relativeImports,
  type ImportEdge,
} from './importGraph.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The .ts files under a component's folder, as repository paths. */
function sourceFiles(folder: string): string[] {
  return readdirSync(path.join(repoRoot, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) =>
      path.relative(repoRoot, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'),
    )
    .sort();
}

function productionImports(): ImportEdge[] {
  return components.flatMap((component) =>
    sourceFiles(component).flatMap((file) =>
      relativeImports(file, readFileSync(path.join(repoRoot, file), 'utf8')),
    ),
  );
}

/** An edge as the table tests write it: `'operator/a.ts -> worker/b.ts'`. */
function edge(text: string): ImportEdge {
  const [from, to] = text.split(' -> ') as [string, string];
  return { from, to, specifier: path.posix.relative(path.posix.dirname(from), to), line: 1 };
}

describe('the import boundaries between components', () => {
  const edges = productionImports();

  it('finds the imports of the tree (the scan is not vacuous)', () => {
    expect(edges.length).toBeGreaterThan(100);
    expect(edges).toContainEqual(
      expect.objectContaining({ from: 'operator/main.ts', to: 'operator/config.ts' }),
    );
  });

  it('has no import across a forbidden boundary', () => {
    expect(forbiddenImports(edges).map(describeViolation)).toEqual([]);
  });

  it('has no import cycle', () => {
    expect(importCycles(edges)).toEqual([]);
  });
});

describe('the import checker', () => {
  it.each([
    ['operator/a.ts -> worker/b.ts', 'operator/ may not import worker/'],
    ['worker/a.ts -> operator/b.ts', 'worker/ may not import operator/'],
    ['storage/a.ts -> worker/config.ts', 'storage/ may not import worker/'],
    ['storage/a.ts -> operator/b.ts', 'storage/ may not import operator/'],
    ['api/a.ts -> common/logging.ts', 'api/ may not import common/'],
    ['common/a.ts -> storage/index.ts', 'common/ may not import storage/'],
    ['operator/a.ts -> test/bed/bed.ts', 'operator/ may not import test/ (outside the components)'],
  ])('refuses %s (%s)', (text, reason) => {
    expect(forbiddenImports([edge(text)])).toEqual([{ edge: edge(text), reason }]);
  });

  it.each([
    'operator/a.ts -> operator/reconcile/b.ts',
    'operator/a.ts -> storage/index.ts',
    'operator/a.ts -> api/uploads.ts',
    'worker/a.ts -> storage/s3Store.ts',
    'worker/a.ts -> common/backoff.ts',
    'storage/a.ts -> api/errorBody.ts',
    'storage/a.ts -> common/logging.ts',
    'test/unit/a.test.ts -> worker/b.ts',
    'bench/a.ts -> operator/b.ts',
  ])('allows %s', (text) => {
    expect(forbiddenImports([edge(text)])).toEqual([]);
  });

  it('names the file, the line and the import as written', () => {
    const edges = relativeImports(
      'operator/engine/jobEngine.ts',
      "// import { x } from '../../worker/not-an-import.ts';\nimport { a } from './a.ts';\n" +
        "import type { B } from '../../worker/config.ts';\nconst c = await import('../../worker/c.ts');\n" +
        "export { d } from '../../storage/index.ts';\n",
    );
    expect(forbiddenImports(edges).map(describeViolation)).toEqual([
      "operator/engine/jobEngine.ts:3 imports '../../worker/config.ts' (operator/ may not import worker/)",
      "operator/engine/jobEngine.ts:4 imports '../../worker/c.ts' (operator/ may not import worker/)",
    ]);
  });

  it('finds a two-file cycle and a longer one, and nothing in a chain', () => {
    const edges = [
      'worker/transfer/destinationEndpoint.ts -> worker/transfer/partEndpoint.ts',
      'worker/transfer/partEndpoint.ts -> worker/transfer/destinationEndpoint.ts',
      'operator/a.ts -> operator/b.ts',
      'operator/b.ts -> operator/c.ts',
      'operator/c.ts -> operator/a.ts',
      'storage/x.ts -> storage/y.ts',
      'storage/y.ts -> storage/z.ts',
    ].map(edge);
    expect(importCycles(edges)).toEqual([
      ['operator/a.ts', 'operator/b.ts', 'operator/c.ts'],
      ['worker/transfer/destinationEndpoint.ts', 'worker/transfer/partEndpoint.ts'],
    ]);
  });
});
