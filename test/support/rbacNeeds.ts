// The Kubernetes API permissions a component's code needs, read from the code
// itself: every call it makes on @kubernetes/client-node, found with the
// TypeScript type checker (so calls through fields, parameters and Pick<> types
// count), mapped to the RBAC (apiGroup, resource, verb) the API server checks.
// A client-node call this mapper cannot place is reported by name, never
// skipped: a new kind of call fails the chart's RBAC test until it is mapped.
import path from 'node:path';
import ts from 'typescript';
import { group, plural } from '../../api/v1alpha1/index.ts';

/** One permission the code needs, with the call that needs it. */
export interface ApiUse {
  apiGroup: string;
  /** The resource, or resource/subresource (`replicationjobs/status`, `pods/log`). */
  resource: string;
  verb: string;
  /** `file:line` of the call, relative to the scanned root. */
  site: string;
  /** What was called, e.g. `CoreV1Api.patchNamespacedSecret`. */
  call: string;
}

export interface ApiScan {
  uses: ApiUse[];
  /** Client-node calls the mapper cannot turn into permissions, each naming the call and its site. */
  unmapped: string[];
}

/** The API classes the mapper knows: their group and the kinds they serve, by the name in their methods. */
const apiClasses: Record<string, { apiGroup: string; kinds: Record<string, string> }> = {
  CoreV1Api: {
    apiGroup: '',
    kinds: {
      Pod: 'pods',
      Secret: 'secrets',
      ConfigMap: 'configmaps',
      Event: 'events',
      Service: 'services',
      ServiceAccount: 'serviceaccounts',
      PersistentVolumeClaim: 'persistentvolumeclaims',
      Namespace: 'namespaces',
      Node: 'nodes',
      Endpoints: 'endpoints',
    },
  },
  CoordinationV1Api: { apiGroup: 'coordination.k8s.io', kinds: { Lease: 'leases' } },
  EventsV1Api: { apiGroup: 'events.k8s.io', kinds: { Event: 'events' } },
  AppsV1Api: { apiGroup: 'apps', kinds: { Deployment: 'deployments', StatefulSet: 'statefulsets' } },
  BatchV1Api: { apiGroup: 'batch', kinds: { Job: 'jobs' } },
};

/** Method-name prefixes and the RBAC verb of each (longest first: deleteCollection before delete). */
const verbPrefixes: [string, string][] = [
  ['deleteCollection', 'deletecollection'],
  ['list', 'list'],
  ['read', 'get'],
  ['get', 'get'],
  ['create', 'create'],
  ['replace', 'update'],
  ['patch', 'patch'],
  ['delete', 'delete'],
];

/** Method-name suffixes naming a subresource. */
const subresources: Record<string, string> = {
  Status: 'status',
  Log: 'log',
  Eviction: 'eviction',
  Binding: 'binding',
  Scale: 'scale',
  Ephemeralcontainers: 'ephemeralcontainers',
  Token: 'token',
};

/** Client-node members that never reach the API server themselves. */
const harmless = new Set([
  'KubeConfig.*',
  // The per-request context KubeConfig's hooks get (PooledKubeConfig keeps its dispatcher).
  'RequestContext.*',
  'Informer.on',
  'Informer.off',
  'Informer.start',
  'Informer.stop',
  'ObjectCache.get',
  'ObjectCache.list',
  'setHeaderOptions',
]);

export type MethodPermission = { resource: string; verb: string } | { unknown: string };

/**
 * The verb and resource of an API class method, e.g. ('CoreV1Api',
 * 'readNamespacedPodLog') -> get pods/log. CustomObjectsApi methods give the
 * subresource only (`customobjects`, `customobjects/status`): the caller puts
 * the plural from the call's arguments in place of `customobjects`.
 */
export function permissionOfMethod(apiClass: string, method: string): MethodPermission {
  const unknown = { unknown: `${apiClass}.${method}` };
  const kinds =
    apiClass === 'CustomObjectsApi' ? { CustomObject: 'customobjects' } : apiClasses[apiClass]?.kinds;
  const prefix = verbPrefixes.find(([p]) => method.startsWith(p));
  if (!kinds || !prefix) return unknown;
  let rest = method.slice(prefix[0].length).replace(/ForAllNamespaces$/, '');
  rest = rest.replace(/^(Namespaced|Cluster)(?=[A-Z])/, '');
  const kind = Object.keys(kinds)
    .filter((k) => rest.startsWith(k))
    .sort((a, b) => b.length - a.length)[0];
  if (!kind) return unknown;
  const suffix = rest.slice(kind.length);
  if (suffix !== '' && !(suffix in subresources)) return unknown;
  const resource = suffix ? `${kinds[kind]}/${subresources[suffix]}` : kinds[kind]!;
  return { resource, verb: prefix[1] };
}

/** The apiGroup of an API class (CustomObjectsApi's comes from each call). */
export function apiGroupOf(apiClass: string): string | undefined {
  return apiClasses[apiClass]?.apiGroup;
}

const clientNode = `${path.sep}node_modules${path.sep}@kubernetes${path.sep}client-node${path.sep}`;

function isClientNode(node: ts.Node | undefined): boolean {
  return !!node && path.resolve(node.getSourceFile().fileName).includes(clientNode);
}

/** `Class.member` (the Object prefix of client-node's generated classes dropped), `new Class`, or a function's name. */
function ownerName(declaration: ts.Declaration): string {
  const className = (c: ts.ClassDeclaration | ts.InterfaceDeclaration) =>
    (c.name?.text ?? '?').replace(/^Object(?=\w+Api$)/, '');
  if (ts.isClassDeclaration(declaration)) return `new ${className(declaration)}`;
  const parent = declaration.parent;
  if (ts.isConstructorDeclaration(declaration) && ts.isClassDeclaration(parent))
    return `new ${className(parent)}`;
  const name = ts.getNameOfDeclaration(declaration)?.getText() ?? '?';
  if (ts.isClassDeclaration(parent) || ts.isInterfaceDeclaration(parent))
    return `${className(parent)}.${name}`;
  return name;
}

export interface ScanOptions {
  /** Paths are reported relative to this directory. */
  root: string;
  /** Source text to use in place of (or beside) files on disk, by absolute path. */
  virtualFiles?: Record<string, string>;
}

/**
 * The permissions each component needs: the code in its files and in every
 * file they import (so a call in common/ counts for whoever imports it).
 */
export function scanApiUse(
  components: Record<string, string[]>,
  options: ScanOptions,
): Record<string, ApiScan> {
  const program = createProgram(Object.values(components).flat(), options.virtualFiles ?? {});
  const checker = program.getTypeChecker();
  const site = (node: ts.Node) => {
    const file = node.getSourceFile();
    const { line } = file.getLineAndCharacterOfPosition(node.getStart());
    return `${path.relative(options.root, file.fileName)}:${line + 1}`;
  };
  const perFile = new Map<ts.SourceFile, ApiScan>();
  const scanOf = (file: ts.SourceFile) => {
    if (!perFile.has(file))
      perFile.set(file, scanFile({ checker, program, site, scan: { uses: [], unmapped: [] } }, file));
    return perFile.get(file)!;
  };
  return Object.fromEntries(
    Object.entries(components).map(([name, files]) => {
      const scans = reachableSources(program, checker, files).map(scanOf);
      return [name, { uses: scans.flatMap((s) => s.uses), unmapped: scans.flatMap((s) => s.unmapped) }];
    }),
  );
}

function scanFile(context: CallContext, file: ts.SourceFile): ApiScan {
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) || ts.isNewExpression(node)) classifyCall(context, node);
    if (ts.isObjectLiteralExpression(node)) ownerReferenceUse(context, node);
    ts.forEachChild(node, visit);
  };
  visit(file);
  return context.scan;
}

/** The project's own source files reachable from `files` through imports and re-exports. */
function reachableSources(program: ts.Program, checker: ts.TypeChecker, files: string[]): ts.SourceFile[] {
  const isOurs = (f: ts.SourceFile) =>
    !f.isDeclarationFile && !f.fileName.includes(`${path.sep}node_modules${path.sep}`);
  const queue = files.map((f) => program.getSourceFile(f)).filter((f): f is ts.SourceFile => !!f);
  const seen = new Set<ts.SourceFile>();
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file) || !isOurs(file)) continue;
    seen.add(file);
    for (const statement of file.statements) {
      const specifier =
        (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) && statement.moduleSpecifier;
      const target = specifier && checker.getSymbolAtLocation(specifier)?.valueDeclaration;
      if (target && ts.isSourceFile(target)) queue.push(target);
    }
  }
  return [...seen];
}

function createProgram(files: string[], virtualFiles: Record<string, string>): ts.Program {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    noEmit: true,
    strict: true,
    skipLibCheck: true,
    types: ['node'],
  };
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile } = host;
  host.fileExists = (f) => f in virtualFiles || fileExists.call(host, f);
  host.readFile = (f) => virtualFiles[f] ?? readFile.call(host, f);
  const getSourceFile = host.getSourceFile;
  host.getSourceFile = (f, language, ...rest) =>
    f in virtualFiles
      ? ts.createSourceFile(f, virtualFiles[f]!, language, true)
      : getSourceFile.call(host, f, language, ...rest);
  return ts.createProgram([...files, ...Object.keys(virtualFiles)], options, host);
}

interface CallContext {
  checker: ts.TypeChecker;
  program: ts.Program;
  site: (node: ts.Node) => string;
  scan: ApiScan;
  /** Set while reading an informer's list function: its list calls also need watch. */
  informer?: boolean;
}

function classifyCall(context: CallContext, call: ts.CallExpression | ts.NewExpression): void {
  const declaration = context.checker.getResolvedSignature(call)?.declaration;
  if (!declaration || !isClientNode(declaration)) return;
  const owner = ownerName(declaration);
  const ownerClass = owner.startsWith('new ') ? owner.slice(4) : owner.split('.')[0];
  if (harmless.has(owner) || harmless.has(`${ownerClass}.*`)) return;
  if (/^new V\d\w*$/.test(owner)) return; // a model: a plain object
  if (owner === 'makeInformer') return informerUse(context, call as ts.CallExpression);
  const [cls, method] = owner.split('.');
  if (method && ts.isCallExpression(call) && /Api$/.test(cls!))
    return apiMethodUse(context, call, cls!, method);
  context.scan.unmapped.push(`${owner} at ${context.site(call)}`);
}

function apiMethodUse(context: CallContext, call: ts.CallExpression, cls: string, method: string): void {
  const where = context.site(call);
  const permission = permissionOfMethod(cls, method);
  if ('unknown' in permission) {
    context.scan.unmapped.push(`${permission.unknown} at ${where}`);
    return;
  }
  let { resource } = permission;
  let apiGroup = apiGroupOf(cls);
  if (cls === 'CustomObjectsApi') {
    const args = customObjectArguments(context.checker, call);
    if (!args) {
      context.scan.unmapped.push(`${cls}.${method} at ${where}: its group and plural are not constants`);
      return;
    }
    apiGroup = args.group;
    resource = resource.replace('customobjects', args.plural);
  }
  const use = { apiGroup: apiGroup!, resource, site: where, call: `${cls}.${method}` };
  context.scan.uses.push({ ...use, verb: permission.verb });
  // An informer lists, then watches from the list's resource version.
  if (context.informer && permission.verb === 'list') context.scan.uses.push({ ...use, verb: 'watch' });
}

/** The constant `group` and `plural` of a CustomObjectsApi call's parameter object literal. */
function customObjectArguments(
  checker: ts.TypeChecker,
  call: ts.CallExpression,
): { group: string; plural: string } | undefined {
  const param = call.arguments[0];
  if (!param || !ts.isObjectLiteralExpression(param)) return undefined;
  const constant = (name: string) => {
    const property = param.properties.find((p) => p.name?.getText() === name);
    let type: ts.Type | undefined;
    if (property && ts.isPropertyAssignment(property)) type = checker.getTypeAtLocation(property.initializer);
    if (property && ts.isShorthandPropertyAssignment(property)) {
      let symbol = checker.getShorthandAssignmentValueSymbol(property);
      if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
      type = symbol && checker.getTypeOfSymbol(symbol);
    }
    return type?.isStringLiteral() ? type.value : undefined;
  };
  const group = constant('group');
  const plural = constant('plural');
  return group !== undefined && plural !== undefined ? { group, plural } : undefined;
}

/**
 * makeInformer(kc, path, listFn, ...): the list function's calls, read again
 * as an informer's (list + watch). When listFn is a parameter of the function
 * around the call, the list functions its callers pass are read instead.
 */
function informerUse(context: CallContext, call: ts.CallExpression): void {
  const listFn = call.arguments[2];
  if (!listFn)
    return void context.scan.unmapped.push(`makeInformer at ${context.site(call)}: no list function`);
  const found = listFunctions(context, listFn, new Set());
  if (found.length === 0)
    context.scan.unmapped.push(`makeInformer at ${context.site(call)}: its list function cannot be found`);
  for (const fn of found) {
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node)) classifyCallAsInformer(context, node);
      ts.forEachChild(node, visit);
    };
    visit(fn);
  }
}

function classifyCallAsInformer(context: CallContext, call: ts.CallExpression): void {
  // Only the informer's extra `watch` is added here; the scan sees the list call itself.
  const inner: CallContext = { ...context, informer: true, scan: { uses: [], unmapped: [] } };
  classifyCall(inner, call);
  context.scan.uses.push(...inner.scan.uses.filter((u) => u.verb === 'watch'));
}

/** The function expressions an argument stands for, following parameters to their callers' arguments. */
function listFunctions(context: CallContext, expr: ts.Expression, seen: Set<ts.Node>): ts.Node[] {
  if (ts.isArrowFunction(expr) || ts.isFunctionExpression(expr)) return [expr];
  if (!ts.isIdentifier(expr)) return [];
  const symbol = context.checker.getSymbolAtLocation(expr);
  const param = symbol?.valueDeclaration;
  if (!param || !ts.isParameter(param) || seen.has(param)) return [];
  seen.add(param);
  const fn = param.parent as ts.SignatureDeclaration;
  const index = fn.parameters.indexOf(param);
  return callersOf(context, fn).flatMap((caller) => {
    const arg = caller.arguments[index];
    return arg ? listFunctions(context, arg, seen) : [];
  });
}

function callersOf(context: CallContext, fn: ts.SignatureDeclaration): ts.CallExpression[] {
  const callers: ts.CallExpression[] = [];
  for (const file of context.program.getSourceFiles()) {
    if (file.isDeclarationFile) continue;
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && context.checker.getResolvedSignature(node)?.declaration === fn)
        callers.push(node);
      ts.forEachChild(node, visit);
    };
    visit(file);
  }
  return callers;
}

/**
 * An owner reference with blockOwnerDeletion: true needs `update` on the
 * owner's finalizers subresource (the OwnerReferencesPermissionEnforcement
 * admission plugin). The owner is read from the reference's `kind`, which must
 * come from a ReplicationJob (the only owner this operator sets).
 */
function ownerReferenceUse(context: CallContext, literal: ts.ObjectLiteralExpression): void {
  const block = literal.properties.find((p) => p.name?.getText() === 'blockOwnerDeletion');
  if (!block || !ts.isPropertyAssignment(block) || block.initializer.kind !== ts.SyntaxKind.TrueKeyword)
    return;
  const kind = literal.properties.find((p) => p.name?.getText() === 'kind');
  const owner =
    kind && ts.isPropertyAssignment(kind) && ts.isPropertyAccessExpression(kind.initializer)
      ? context.checker.getTypeAtLocation(kind.initializer.expression).getSymbol()?.getName()
      : undefined;
  if (owner !== 'ReplicationJob') {
    context.scan.unmapped.push(
      `an owner reference at ${context.site(literal)}: its owner's kind is not known`,
    );
    return;
  }
  context.scan.uses.push({
    apiGroup: group,
    resource: `${plural}/finalizers`,
    verb: 'update',
    site: context.site(literal),
    call: 'ownerReferences[].blockOwnerDeletion',
  });
}
