// Readiness and liveness probes: httpGet, tcpSocket and exec, run every
// periodSeconds after initialDelaySeconds, with success and failure thresholds.
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type * as k8s from '@kubernetes/client-node';

export interface ProbeTarget {
  podIP: string;
  container: k8s.V1Container;
  env: Record<string, string>;
  cwd: string;
}

export interface ProbeOutcome {
  ok: boolean;
  message: string;
}

/** Runs one probe once. */
export async function probeOnce(probe: k8s.V1Probe, target: ProbeTarget): Promise<ProbeOutcome> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  try {
    if (probe.httpGet) return await httpProbe(probe.httpGet, target, timeoutMs);
    if (probe.tcpSocket) return await tcpProbe(probe.tcpSocket, target, timeoutMs);
    if (probe.exec) return await execProbe(probe.exec, target, timeoutMs);
    return { ok: true, message: 'probe kind not supported by the pod runner; treated as passing' };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

export function portNumber(port: number | string, container: k8s.V1Container): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const named = container.ports?.find((p) => p.name === port);
  if (!named) throw new Error(`container ${container.name} has no port named ${port}`);
  return named.containerPort;
}

async function httpProbe(
  action: k8s.V1HTTPGetAction,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeOutcome> {
  const port = portNumber(action.port as number | string, target.container);
  const host = action.host || target.podIP;
  const secure = action.scheme === 'HTTPS';
  const url = `${secure ? 'https' : 'http'}://${host}:${port}${action.path ?? '/'}`;
  const headers = Object.fromEntries((action.httpHeaders ?? []).map((h) => [h.name, h.value]));
  const status = await new Promise<number>((resolve, reject) => {
    const request = (secure ? https : http).get(
      url,
      { headers, timeout: timeoutMs, ...(secure ? { rejectUnauthorized: false } : {}) },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`GET ${url}: timeout after ${timeoutMs} ms`)));
    request.on('error', reject);
  });
  const ok = status >= 200 && status < 400;
  return { ok, message: `HTTP probe ${url} answered ${status}` };
}

async function tcpProbe(
  action: k8s.V1TCPSocketAction,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeOutcome> {
  const port = portNumber(action.port as number | string, target.container);
  const host = action.host || target.podIP;
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => socket.destroy(new Error(`dial tcp ${host}:${port}: timeout`)));
    socket.once('error', reject);
  });
  return { ok: true, message: `TCP probe ${host}:${port} connected` };
}

async function execProbe(
  action: k8s.V1ExecAction,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeOutcome> {
  const [command, ...args] = action.command ?? [];
  if (!command) return { ok: false, message: 'exec probe without a command' };
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: target.cwd,
      env: target.env,
      stdio: 'ignore',
      timeout: timeoutMs,
    });
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  return { ok: code === 0, message: `exec probe ${command} exited with ${code}` };
}

/**
 * Runs a probe periodically. `onChange(true|false)` is called when the result
 * flips after successThreshold successes / failureThreshold failures; the
 * initial state is `initial` (false for readiness, true for liveness).
 */
export class ProbeLoop {
  private readonly probe: k8s.V1Probe;
  private readonly target: ProbeTarget;
  private readonly periodMs: number;
  private readonly onChange: (ok: boolean, message: string) => void;
  private state: boolean;
  private successes = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    probe: k8s.V1Probe,
    target: ProbeTarget,
    initial: boolean,
    onChange: (ok: boolean, message: string) => void,
    maxPeriodSeconds = Infinity,
  ) {
    this.probe = probe;
    this.target = target;
    this.state = initial;
    this.onChange = onChange;
    this.periodMs = Math.min(probe.periodSeconds ?? 10, maxPeriodSeconds) * 1000;
  }

  start(): void {
    this.timer = setTimeout(() => void this.tick(), (this.probe.initialDelaySeconds ?? 0) * 1000);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const outcome = await probeOnce(this.probe, this.target);
    if (this.stopped) return;
    if (outcome.ok) {
      this.failures = 0;
      this.successes++;
      if (!this.state && this.successes >= (this.probe.successThreshold ?? 1)) {
        this.state = true;
        this.onChange(true, outcome.message);
      }
    } else {
      this.successes = 0;
      this.failures++;
      if (this.state && this.failures >= (this.probe.failureThreshold ?? 3)) {
        this.state = false;
        this.onChange(false, outcome.message);
      }
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), this.periodMs);
  }
}
