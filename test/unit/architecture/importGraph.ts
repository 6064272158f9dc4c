// The import rules of ADR 0023 (docs/adr/0023-the-house-components-and-allowed-imports.md)
// as data, and a pure checker over import edges: which edges cross a
// forbidden boundary, and which files import each other in a cycle. No file
// system here, so the rules can be table-tested on edges made up in memory;
// importBoundaries.test.ts feeds it the real tree.
import path from 'node:path';
import ts from 'typescript';

/** The production components: one top-level folder each. */
export const components = ['api', 'common', 'storage', 'operator', 'worker'] as const;
export type Component = (typeof components)[number];

/**
 * What each component may import besides its own files. api/ (the contract
 * operator and workers share) and common/ (logging, back-off, NATS access,
 * probes) are leaves; storage/ is the one object-store library both sides
 * use; operator/ and worker/ never import each other.
 */
export const allowedImports: Record<Component, readonly Component[]> = {
  api: [],
  common: [],
  storage: ['api', 'common'],
  operator: ['api', 'common', 'storage'],
  worker: ['api', 'common', 'storage'],
};

/** One relative import: `from` and `to` are repository paths such as `operator/main.ts`. */
export interface ImportEdge {
  from: string;
  to: string;
  /** The specifier as written, e.g. `../../worker/config.ts`. */
  specifier: string;
  line: number;
}

/**
 * The relative imports of one source file: static `import … from`,
 * `export … from`, side-effect `import '…'` and dynamic `import('…')`, type-only
 * ones included (they still tie the folders together). Comments and strings
 * are not imports (TypeScript's own pre-processor tells them apart).
 */
export function relativeImports(file: string, source: string): ImportEdge[] {
  return ts
    .preProcessFile(source, true, false)
    .importedFiles.filter((ref) => ref.fileName.startsWith('./') || ref.fileName.startsWith('../'))
    .map((ref) => ({
      from: file,
      to: path.posix.normalize(path.posix.join(path.posix.dirname(file), ref.fileName)),
      specifier: ref.fileName,
      line: source.slice(0, ref.pos).split('\n').length,
    }));
}

/** The component a repository path belongs to, or undefined outside them (test/, bench/, node_modules …). */
export function componentOf(file: string): Component | undefined {
  const top = file.split('/')[0];
  return (components as readonly string[]).includes(top ?? '') ? (top as Component) : undefined;
}

export interface BoundaryViolation {
  edge: ImportEdge;
  /** Why it is refused, e.g. "operator/ may not import worker/". */
  reason: string;
}

/** Every edge from a component to a folder it may not import (another component, or anything outside them). */
export function forbiddenImports(edges: readonly ImportEdge[]): BoundaryViolation[] {
  const violations: BoundaryViolation[] = [];
  for (const edge of edges) {
    const from = componentOf(edge.from);
    if (from === undefined) continue;
    const to = componentOf(edge.to);
    if (to === from || (to !== undefined && allowedImports[from].includes(to))) continue;
    const target = to === undefined ? `${edge.to.split('/')[0]}/ (outside the components)` : `${to}/`;
    violations.push({ edge, reason: `${from}/ may not import ${target}` });
  }
  return violations;
}

/**
 * The import cycles among the files: each strongly connected group of two or
 * more files (or a file importing itself), its files sorted, the groups sorted
 * by their first file.
 */
export function importCycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) {
    next.set(from, [...(next.get(from) ?? []), to]);
    if (!next.has(to)) next.set(to, []);
  }
  const cycles = stronglyConnected(next).filter(
    (group) => group.length > 1 || (next.get(group[0]!) ?? []).includes(group[0]!),
  );
  return cycles.map((group) => [...group].sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** Tarjan's algorithm, iterative so that a deep import chain cannot overflow the stack. */
function stronglyConnected(next: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const groups: string[][] = [];
  let counter = 0;
  for (const root of next.keys()) {
    if (index.has(root)) continue;
    const work: { node: string; child: number }[] = [{ node: root, child: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const children = next.get(frame.node) ?? [];
      if (frame.child < children.length) {
        const child = children[frame.child++]!;
        if (!index.has(child)) {
          index.set(child, counter);
          low.set(child, counter++);
          stack.push(child);
          onStack.add(child);
          work.push({ node: child, child: 0 });
        } else if (onStack.has(child)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(child)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const group: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          group.push(member);
        } while (member !== frame.node);
        groups.push(group);
      }
    }
  }
  return groups;
}

/** A violation as one line a reader can act on: `operator/x.ts:3 imports '../worker/y.ts' (operator/ may not import worker/)`. */
export function describeViolation({ edge, reason }: BoundaryViolation): string {
  return `${edge.from}:${edge.line} imports '${edge.specifier}' (${reason})`;
}
