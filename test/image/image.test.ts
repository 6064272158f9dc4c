// The image as built by `make image` from the project's Dockerfile: its
// compiled entrypoints (tsconfig.build.json's output, what the chart's pods
// run) start under the pods' restrictions — UID 65532 from the image, a
// read-only root filesystem with no writable /tmp, every capability dropped —
// and fail cleanly, naming what is missing, when their configuration is absent.
// Builds nothing: it runs the image in the project's podman store.
import { ferryImage, podman, requireImage, runFlags } from './podman.ts';

/** A pod's restrictions, as the chart sets them (podman adds no writable tmpfs). */
const restricted = [
  ...runFlags,
  '--network',
  'none',
  '--read-only',
  '--read-only-tmpfs=false',
  '--cap-drop',
  'all',
  '--security-opt',
  'no-new-privileges',
];

/** The minimum the operator needs to get past its configuration; nothing listens at these addresses. */
const operatorEnv = {
  FERRY_WORKER_IMAGE: ferryImage,
  FERRY_NATS_URL: 'nats://127.0.0.1:4222',
  FERRY_ETCD_ENDPOINTS: 'http://127.0.0.1:2379',
};

interface LogLine {
  component?: string;
  level?: string;
  message?: string;
  signal?: string;
}

function logLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

function envFlags(env: Record<string, string>): string[] {
  return Object.entries(env).flatMap(([name, value]) => ['-e', `${name}=${value}`]);
}

async function logsOf(container: string): Promise<LogLine[]> {
  const { stdout, stderr } = await podman(['logs', container]);
  return logLines(stdout + stderr);
}

async function waitForLog(container: string, message: string, timeoutMs = 30_000): Promise<LogLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = await logsOf(container);
    if (lines.some((l) => l.message === message)) return lines;
    if (Date.now() > deadline)
      throw new Error(`no "${message}" logged in ${timeoutMs} ms: ${JSON.stringify(lines)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe(`the Ferry image (${ferryImage})`, () => {
  const names: string[] = [];
  function containerName(): string {
    const name = `ferry-image-test-${process.pid}-${names.length}`;
    names.push(name);
    return name;
  }

  beforeAll(() => requireImage(ferryImage));
  afterAll(async () => {
    if (names.length) await podman(['rm', '--force', '--ignore', ...names]);
  });

  it('runs the operator as UID 65532 on a read-only root, serving its probes and stopping on SIGTERM', async () => {
    const name = containerName();
    const started = await podman([
      'run',
      '--detach',
      '--name',
      name,
      ...restricted,
      ...envFlags(operatorEnv),
      ferryImage,
    ]);
    expect(started.stderr).toBe('');

    await waitForLog(name, 'operator starting');
    // PID 1 is the image's own entrypoint, with the image's USER (no --user given).
    const status = await podman(['exec', name, 'cat', '/proc/1/status', '/proc/1/cmdline']);
    expect(status.stdout).toMatch(/^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
    expect(status.stdout).toMatch(/^Gid:\s+65532\s/m);
    expect(status.stdout).toContain('node\0operator/main.js\0');
    const healthz = await podman([
      'exec',
      name,
      'node',
      '-e',
      "fetch('http://127.0.0.1:8081/healthz').then(async (r) => console.log(r.status, await r.text()))",
    ]);
    expect(healthz.stdout.trim()).toBe('200 ok');

    const stopped = await podman(['stop', '--time', '10', name]);
    expect(stopped.code).toBe(0);
    const exit = await podman(['inspect', '--format', '{{.State.ExitCode}}', name]);
    expect(exit.stdout.trim()).toBe('0');
    expect(await logsOf(name)).toContainEqual(
      expect.objectContaining({ message: 'shutting down', signal: 'SIGTERM' }),
    );
  });

  it('fails the operator at start-up with an error naming the missing setting', async () => {
    const run = await podman(['run', '--rm', ...restricted, ferryImage]);
    expect(run.code).toBe(1);
    expect(logLines(run.stdout + run.stderr)).toContainEqual(
      expect.objectContaining({
        component: 'operator',
        level: 'error',
        message: 'invalid configuration: FERRY_WORKER_IMAGE is required',
      }),
    );
  });

  it('fails the worker entrypoint at start-up with an error naming the missing setting', async () => {
    const run = await podman(['run', '--rm', ...restricted, ferryImage, 'node', 'worker/main.js']);
    expect(run.code).toBe(1);
    expect(logLines(run.stdout + run.stderr)).toContainEqual(
      expect.objectContaining({
        component: 'worker',
        level: 'error',
        message: 'invalid configuration: FERRY_ROLE is required',
      }),
    );
  });
});
