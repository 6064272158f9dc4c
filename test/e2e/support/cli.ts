// kubectl and helm as a user runs them against the e2e cluster: the tests
// drive Ferry through the same commands the README tells users to type.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { toolPath } from '../../bed/tools.ts';

const run = promisify(execFile);

export interface CliResult {
  stdout: string;
  stderr: string;
}

/** Runs `tool args…` with KUBECONFIG set; fails with the command and its stderr. */
async function cli(tool: 'kubectl' | 'helm', kubeconfig: string, args: string[], input?: string) {
  const child = run(toolPath(tool), args, {
    env: { ...process.env, KUBECONFIG: kubeconfig },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 10 * 60_000,
  });
  if (input !== undefined) {
    child.child.stdin!.end(input);
  }
  try {
    return (await child) as CliResult;
  } catch (err) {
    const e = err as Error & { stderr?: string; stdout?: string };
    throw new Error(`${tool} ${args.join(' ')} failed: ${e.stderr || e.message}`, { cause: err });
  }
}

export function kubectl(kubeconfig: string, args: string[], input?: string): Promise<CliResult> {
  return cli('kubectl', kubeconfig, args, input);
}

export function helm(kubeconfig: string, args: string[]): Promise<CliResult> {
  return cli('helm', kubeconfig, args);
}

/** `kubectl apply -f -` of the given manifests (YAML or JSON objects). */
export function kubectlApply(kubeconfig: string, objects: object[]): Promise<CliResult> {
  const list = { apiVersion: 'v1', kind: 'List', items: objects };
  return kubectl(kubeconfig, ['apply', '-f', '-'], JSON.stringify(list));
}
