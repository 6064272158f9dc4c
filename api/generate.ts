// Generates the TypeScript types of the ReplicationJob API from its CRD, the
// API's single source of truth:
//
//   node api/generate.ts     writes api/v1alpha1/replicationJob.generated.ts
//
// A small deterministic schema-to-TypeScript emitter: objects become interfaces
// (named by the table below, or inline), enums become `as const` arrays with a
// string-literal union, int-or-string becomes `number | string`, every integer
// (int32 or int64) becomes `number`. A field is optional unless the schema
// requires it; server-side defaults do not make it required, since a client may
// omit it. The output is formatted with the repository's prettier settings, so
// it is byte-for-byte reproducible; test/unit/api/generatedTypes.test.ts fails
// when the committed file is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { load } from 'js-yaml';
import * as prettier from 'prettier';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..');
export const crdFile = 'crds/ferry.dev_replicationjobs.yaml';
export const outputFile = 'api/v1alpha1/replicationJob.generated.ts';

/** The subset of a structural OpenAPI v3 schema the CRD uses. */
export interface Schema {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema | boolean;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  pattern?: string;
  anyOf?: Schema[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

interface Crd {
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames?: string[] };
    versions: { name: string; storage?: boolean; schema: { openAPIV3Schema: Schema } }[];
  };
}

/**
 * Names of the object types, by schema path ("spec.source.s3"; "[]" is an
 * array's items). Paths naming the same type must have identical schemas.
 */
const objectTypes: Record<string, string> = {
  '': 'ReplicationJob',
  spec: 'ReplicationJobSpec',
  'spec.source': 'Store',
  'spec.destination': 'Store',
  'spec.source.s3': 'S3Store',
  'spec.destination.s3': 'S3Store',
  'spec.source.s3.credentialsSecretRef': 'S3CredentialsSecretRef',
  'spec.destination.s3.credentialsSecretRef': 'S3CredentialsSecretRef',
  'spec.source.s3.caBundleSecretRef': 'SecretKeyRef',
  'spec.destination.s3.caBundleSecretRef': 'SecretKeyRef',
  'spec.source.filesystem': 'FilesystemStore',
  'spec.destination.filesystem': 'FilesystemStore',
  'spec.filters': 'Filters',
  'spec.deletion': 'DeletionPolicy',
  'spec.workers': 'Workers',
  'spec.workers.source': 'WorkerPool',
  'spec.workers.destination': 'WorkerPool',
  'spec.workers.source.resources': 'ResourceRequirements',
  'spec.workers.destination.resources': 'ResourceRequirements',
  'spec.workers.source.tolerations[]': 'Toleration',
  'spec.workers.destination.tolerations[]': 'Toleration',
  'spec.tasks': 'TaskSettings',
  'spec.retry': 'RetryPolicy',
  'spec.verify': 'Verification',
  status: 'ReplicationJobStatus',
  'status.conditions[]': 'Condition',
  'status.objects': 'TransferCounts',
  'status.bytes': 'TransferCounts',
  'status.tasks': 'TaskCounts',
  'status.lastFailure': 'Failure',
  'status.workers': 'WorkerCounts',
};

/** Names of the enums, by schema path: the union type and its `as const` array of values. */
const enumTypes: Record<string, { type: string; values: string }> = {
  'spec.mode': { type: 'ReplicationMode', values: 'replicationModes' },
  'spec.workers.imagePullPolicy': { type: 'ImagePullPolicy', values: 'imagePullPolicies' },
  'spec.workers.source.tolerations[].operator': { type: 'TolerationOperator', values: 'tolerationOperators' },
  'spec.workers.destination.tolerations[].operator': {
    type: 'TolerationOperator',
    values: 'tolerationOperators',
  },
  'spec.workers.source.tolerations[].effect': { type: 'TaintEffect', values: 'taintEffects' },
  'spec.workers.destination.tolerations[].effect': { type: 'TaintEffect', values: 'taintEffects' },
  'spec.verify.checksum': { type: 'ChecksumAlgorithm', values: 'checksumAlgorithms' },
  'status.phase': { type: 'ReplicationJobPhase', values: 'replicationJobPhases' },
  'status.conditions[].status': { type: 'ConditionStatus', values: 'conditionStatuses' },
};

/** Fields of the root whose types are not in the schema, and which every stored object has. */
const rootOverrides: Record<string, string> = { metadata: 'V1ObjectMeta' };
const rootRequired = ['apiVersion', 'kind', 'metadata'];
const rootDocs: Record<string, string> = {
  metadata: "Standard object metadata: the job's name, namespace, labels, ...",
};

/** Schema paths of the fields that have no description (kubectl explain would show nothing). */
export function undocumentedFields(schema: Schema, at = ''): string[] {
  const missing: string[] = [];
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const childPath = at ? `${at}.${name}` : name;
    if (!child.description && !(at === '' && name === 'metadata')) missing.push(childPath);
    missing.push(...undocumentedFields(child, childPath));
  }
  if (schema.items) missing.push(...undocumentedFields(schema.items, `${at}[]`));
  if (typeof schema.additionalProperties === 'object')
    missing.push(...undocumentedFields(schema.additionalProperties, `${at}{}`));
  return missing;
}

export function loadCrd(text: string): Crd {
  return load(text) as Crd;
}

function storedVersion(crd: Crd): Crd['spec']['versions'][number] {
  const version = crd.spec.versions.find((v) => v.storage) ?? crd.spec.versions[0];
  if (!version) throw new Error(`${crdFile}: no versions`);
  return version;
}

/**
 * Descriptions of the types several paths share, whose own descriptions differ
 * (each field keeps its own description).
 */
const sharedTypeDocs: Record<string, string> = {
  Store: 'A store of objects: exactly one of s3 or filesystem.',
  WorkerPool: 'A pool of worker pods.',
  TransferCounts: 'Counts by outcome, of objects or of bytes.',
};

interface Declaration {
  /** Where the type was first met. */
  path: string;
  /** The type's descriptions, one per distinct description met. */
  docs: Set<string>;
  /** The declaration without its doc comment. */
  text: string;
}

class Emitter {
  /** Declarations by name, in the order first met (depth first, in schema order). */
  private readonly declarations = new Map<string, Declaration>();

  declarationsText(): string {
    return [...this.declarations.entries()]
      .map(([name, d]) => {
        const doc = d.docs.size > 1 ? sharedTypeDocs[name] : [...d.docs][0];
        if (d.docs.size > 1 && !doc)
          throw new Error(`api/generate.ts: ${name} has several descriptions; add it to sharedTypeDocs`);
        return doc ? `${docComment([doc])}\n${d.text}` : d.text;
      })
      .join('\n\n');
  }

  private addDeclaration(name: string, text: string, description: string | undefined, at: string): void {
    let existing = this.declarations.get(name);
    if (!existing) {
      existing = { path: at, docs: new Set(), text };
      this.declarations.set(name, existing);
    } else if (!existing.text) {
      existing.text = text;
    } else if (existing.text !== text) {
      throw new Error(
        `${crdFile}: ${existing.path || '(root)'} and ${at} are both typed ${name} but their schemas differ`,
      );
    }
    if (description) existing.docs.add(description);
  }

  /** The TypeScript type of the schema at `at`, declaring named types on the way. */
  typeOf(schema: Schema, at: string): string {
    if (schema['x-kubernetes-int-or-string']) return 'number | string';
    if (schema.enum) return this.enumType(schema, at);
    switch (schema.type) {
      case 'string':
        return 'string';
      case 'integer':
      case 'number':
        return 'number';
      case 'boolean':
        return 'boolean';
      case 'array': {
        if (!schema.items) throw new Error(`${crdFile}: ${at} is an array without items`);
        const item = this.typeOf(schema.items, `${at}[]`);
        return /[|&]/.test(item) ? `(${item})[]` : `${item}[]`;
      }
      case 'object':
        return this.objectType(schema, at);
      default:
        throw new Error(`${crdFile}: ${at || '(root)'} has unsupported type ${String(schema.type)}`);
    }
  }

  private enumType(schema: Schema, at: string): string {
    const values = schema.enum!.map((v) => {
      if (typeof v !== 'string') throw new Error(`${crdFile}: ${at} has a non-string enum value`);
      return `'${v.replace(/[\\']/g, '\\$&')}'`;
    });
    const named = enumTypes[at];
    if (!named) return values.join(' | ');
    const text = [
      `export const ${named.values} = [${values.join(', ')}] as const;`,
      `export type ${named.type} = (typeof ${named.values})[number];`,
    ].join('\n');
    this.addDeclaration(named.type, text, schema.description, at);
    return named.type;
  }

  private objectType(schema: Schema, at: string): string {
    const name = objectTypes[at];
    // Reserve the name's place first, so that types come out outermost first.
    if (name && !this.declarations.has(name))
      this.declarations.set(name, { path: at, docs: new Set(), text: '' });
    if (!schema.properties) {
      if (typeof schema.additionalProperties === 'object')
        return `Record<string, ${this.typeOf(schema.additionalProperties, `${at}{}`)}>`;
      return 'Record<string, unknown>';
    }
    const required = new Set([...(schema.required ?? []), ...(at === '' ? rootRequired : [])]);
    const members = Object.entries(schema.properties).map(([name, child]) => {
      const childPath = at ? `${at}.${name}` : name;
      const type = (at === '' && rootOverrides[name]) || this.typeOf(child, childPath);
      const doc = docComment(fieldDoc(at === '' && rootDocs[name] ? { description: rootDocs[name] } : child));
      return `${doc ? `${doc}\n` : ''}${name}${required.has(name) ? '' : '?'}: ${type};`;
    });
    const body = `{\n${members.join('\n')}\n}`;
    if (!name) return body;
    this.addDeclaration(name, `export interface ${name} ${body}`, schema.description, at);
    return name;
  }
}

/** The lines documenting a field: its description, then its default and bounds. */
function fieldDoc(schema: Schema): string[] {
  const lines = schema.description ? [schema.description] : [];
  const facts: string[] = [];
  if (schema.default !== undefined) facts.push(`Default: \`${JSON.stringify(schema.default)}\`.`);
  if (schema.minimum !== undefined && schema.maximum !== undefined)
    facts.push(`Range: ${schema.minimum} to ${schema.maximum}.`);
  else if (schema.minimum !== undefined) facts.push(`Minimum: ${schema.minimum}.`);
  else if (schema.maximum !== undefined) facts.push(`Maximum: ${schema.maximum}.`);
  if (schema.format === 'date-time') facts.push('An RFC 3339 date-time.');
  if (facts.length) lines.push(facts.join(' '));
  return lines;
}

/** Words wrapped into lines of at most `width` characters (a longer word gets a line of its own). */
function wrap(text: string, width = 100): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

function docComment(paragraphs: string[]): string {
  if (paragraphs.length === 0) return '';
  const lines = paragraphs
    .map((p) => wrap(p.replace(/\*\//g, '*\\/')))
    .flatMap((p, i) => (i === 0 ? p : ['', ...p]));
  if (lines.length === 1) return `/** ${lines[0]} */`;
  return ['/**', ...lines.map((l) => (l ? ` * ${l}` : ' *')), ' */'].join('\n');
}

/** The generated module for the CRD text, formatted as the repository formats TypeScript. */
export async function generate(crdText: string): Promise<string> {
  const crd = loadCrd(crdText);
  const version = storedVersion(crd);
  const schema = version.schema.openAPIV3Schema;
  const missing = undocumentedFields(schema);
  if (missing.length) throw new Error(`${crdFile}: fields without a description: ${missing.join(', ')}`);

  const emitter = new Emitter();
  const rootType = emitter.typeOf(schema, '');
  if (rootType !== 'ReplicationJob') throw new Error(`${crdFile}: the root schema must be an object`);
  const { group } = crd.spec;
  const { kind, listKind, plural, singular } = crd.spec.names;
  const quote = (s: string) => `'${s}'`;

  const text = [
    `// Generated from ${crdFile} by api/generate.ts — do not edit.`,
    '// Change the CRD, then run `node api/generate.ts`.',
    "import type { V1ListMeta, V1ObjectMeta } from '@kubernetes/client-node';",
    '',
    `export const group = ${quote(group)};`,
    `export const version = ${quote(version.name)};`,
    `export const apiVersion = ${quote(`${group}/${version.name}`)};`,
    `export const kind = ${quote(kind)};`,
    `export const listKind = ${quote(listKind)};`,
    `export const plural = ${quote(plural)};`,
    `export const singular = ${quote(singular)};`,
    `export const shortNames = [${(crd.spec.names.shortNames ?? []).map(quote).join(', ')}] as const;`,
    '',
    emitter.declarationsText(),
    '',
    `/** A list of ${kind}s, as the API server returns it. */`,
    `export interface ${listKind} {`,
    'apiVersion: string;',
    'kind: string;',
    'metadata?: V1ListMeta;',
    `items: ${kind}[];`,
    '}',
    '',
  ].join('\n');

  const options = (await prettier.resolveConfig(path.join(repoRoot, outputFile))) ?? {};
  return prettier.format(text, { ...options, filepath: path.join(repoRoot, outputFile) });
}

async function main(): Promise<void> {
  const text = await generate(readFileSync(path.join(repoRoot, crdFile), 'utf8'));
  writeFileSync(path.join(repoRoot, outputFile), text);
  console.log(`wrote ${outputFile}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await main();
