// docs/configuration.md is the one list of the operator's environment
// variables: this compares its table with the variables the operator really
// reads, both ways, so a variable added to operator/config.ts (or to the NATS
// and logging helpers it uses) cannot go undocumented, nor a removed one stay.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadOperatorConfig } from '../../../operator/config.ts';
import { createLogger } from '../../../common/logging.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const tableFile = 'docs/configuration.md';

/** An environment that records every variable name read from it. */
function recordingEnv(values: Record<string, string>, read: Set<string>): NodeJS.ProcessEnv {
  return new Proxy(values, {
    get(target, key) {
      if (typeof key === 'string') read.add(key);
      return typeof key === 'string' ? target[key] : undefined;
    },
  });
}

const required = {
  FERRY_WORKER_IMAGE: 'ferry:1',
  FERRY_NATS_URL: 'nats://nats:4222',
  FERRY_ETCD_ENDPOINTS: 'http://etcd-0:2379',
};

/** Environments that between them take every branch of the loader that reads a variable. */
const environments: Record<string, string>[] = [
  required,
  {
    ...required,
    FERRY_NATS_TLS_CA: '/tls/ca.crt',
    FERRY_NATS_TLS_CERT: '/tls/tls.crt',
    FERRY_NATS_TLS_KEY: '/tls/tls.key',
    FERRY_NATS_USER: 'ferry',
    FERRY_NATS_PASSWORD: 'secret',
    FERRY_ETCD_TLS_CA: '/etcd/ca.crt',
    FERRY_ETCD_TLS_CERT: '/etcd/tls.crt',
    FERRY_ETCD_TLS_KEY: '/etcd/tls.key',
    FERRY_ETCD_USERNAME: 'ferry',
    FERRY_ETCD_PASSWORD: 'secret',
  },
  { ...required, FERRY_NATS_CREDS_FILE: '/creds/nats.creds' },
];

/** What the operator reads at start-up: its configuration, and its logger's level (from process.env). */
function variablesTheOperatorReads(): string[] {
  const read = new Set<string>();
  for (const values of environments) loadOperatorConfig(recordingEnv(values, read));
  const processEnv = process.env;
  process.env = recordingEnv({}, read);
  try {
    createLogger('configuration-table-test');
  } finally {
    process.env = processEnv;
  }
  return [...read].filter((name) => /^[A-Z][A-Z0-9_]*$/.test(name)).sort();
}

/** The table's rows: each names exactly one variable in its first cell, then its meaning and default. */
function tableRows(markdown: string): { variable: string; meaning: string; fallback: string }[] {
  return markdown
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const [first = '', meaning = '', fallback = ''] = line
        .split(/ \| /)
        .map((cell) => cell.replace(/^\| |\|$/g, '').trim());
      const variable = /^`([A-Z][A-Z0-9_]*)`$/.exec(first)?.[1];
      if (!variable)
        throw new Error(`${tableFile}: a row must name one variable in backticks, got "${first}"`);
      return { variable, meaning, fallback };
    });
}

describe(`the environment table in ${tableFile}`, () => {
  const rows = tableRows(readFileSync(path.join(repoRoot, tableFile), 'utf8'));
  const documented = rows.map((row) => row.variable);
  const read = variablesTheOperatorReads();

  it('finds what the operator reads (the check is not vacuous)', () => {
    expect(read).toEqual(expect.arrayContaining(['FERRY_NATS_URL', 'FERRY_NATS_TLS_CA', 'FERRY_LOG_LEVEL']));
  });

  it('lists every variable the operator reads', () => {
    expect(read.filter((name) => !documented.includes(name))).toEqual([]);
  });

  it('lists no variable the operator does not read', () => {
    expect(documented.filter((name) => !read.includes(name))).toEqual([]);
  });

  it('lists each variable once, with its meaning and default', () => {
    expect(documented.filter((name, i) => documented.indexOf(name) !== i)).toEqual([]);
    expect(rows.filter((row) => !row.meaning || !row.fallback)).toEqual([]);
  });
});
