// The failure report of a failed job (ADR 0036): every failure the workers
// named, each key with its reason, in a ConfigMap `<job>-failures` the job
// owns (so it goes with the job). The job's status shows at most 100 failures
// and its Failed condition five; the ledger keeps each failed task's list
// (TaskLedger.failureReport). A ConfigMap holds at most 1 MiB, so the report
// is gzipped and, when larger, split over up to 16 ConfigMaps labelled
// ferry.dev/failure-report-of=<job> (`<job>-failures`, `<job>-failures-2`, …);
// beyond that it is cut, and its summary says how many it left out.
//
//   for cm in $(kubectl get cm -l ferry.dev/failure-report-of=<job> -o name); do
//     kubectl get "$cm" -o jsonpath='{.binaryData.failures\.jsonl\.gz}' | base64 -d | gunzip; done
//
// failures.jsonl.gz: one JSON object a line, {"task","key","reason"}; summary:
// the counts. A task whose worker named fewer objects than failed (a status
// names at most statusFailureBounds.maxFailures) gets a line saying so.
import { gzipSync } from 'node:zlib';
import type * as k8s from '@kubernetes/client-node';
import type { ObjectFailure } from '../../api/tasks.ts';
import type { ReplicationJob } from '../../api/v1alpha1/index.ts';
import type { Logger } from '../../common/logging.ts';
import type { TaskLedger } from '../ledger/taskLedger.ts';

/** Gzipped and base64-encoded, below the 1 MiB a ConfigMap may hold, with room for its metadata. */
export const reportBudgetBytes = 640 * 1024;
/** What is read from the ledger for the report at most, before compression. */
const rawBudgetBytes = 64 * 1024 * 1024;

/** Every part of a job's report carries this label, with the job's name. */
export const failureReportLabel = 'ferry.dev/failure-report-of';

export function failureReportName(jobName: string): string {
  return `${jobName}-failures`;
}

export interface FailureReport {
  lines: string[];
  /** Objects that failed in all, and how many are named with a reason in `lines`. */
  failed: number;
  named: number;
  /** Named failures left out because the report reached its budget. */
  cut: number;
}

/** The report's lines from the ledger's failed tasks, within `budget` bytes. */
export async function buildFailureReport(
  tasks: AsyncIterable<{ taskId: string; failures: ObjectFailure[]; failedCount: number }>,
  budget = rawBudgetBytes,
): Promise<FailureReport> {
  const report: FailureReport = { lines: [], failed: 0, named: 0, cut: 0 };
  let bytes = 0;
  const add = (line: object): boolean => {
    const text = JSON.stringify(line);
    if (bytes + text.length + 1 > budget) return false;
    report.lines.push(text);
    bytes += Buffer.byteLength(text) + 1;
    return true;
  };
  for await (const { taskId, failures, failedCount } of tasks) {
    report.failed += failedCount;
    for (const { key, reason } of failures) {
      if (add({ task: taskId, key, reason })) report.named++;
      else report.cut++;
    }
    const unnamed = failedCount - failures.length;
    if (unnamed > 0)
      add({
        task: taskId,
        unnamed,
        reason: `${unnamed} more objects of this task failed; its worker named the first ${failures.length}`,
      });
  }
  return report;
}

/** The most ConfigMaps one report takes (each up to reportBudgetBytes gzipped). */
export const maxReportParts = 16;
/** Lines are gathered into parts of about this many bytes before gzip. */
const rawPartBytes = 1024 * 1024;

/**
 * The report's lines gzipped in parts of at most `budget` bytes each, at most
 * `maxParts` of them; lines beyond are dropped, and counted in `report.cut`.
 */
export function compressReport(
  report: FailureReport,
  budget = reportBudgetBytes,
  maxParts = maxReportParts,
): Buffer[] {
  const parts: Buffer[] = [];
  const pack = (lines: string[]): void => {
    if (lines.length === 0) return;
    const gz = gzipSync(lines.join('\n') + '\n');
    if (gz.length <= budget || lines.length === 1) {
      if (parts.length < maxParts) parts.push(gz);
      else dropLines(report, lines);
      return;
    }
    const half = Math.ceil(lines.length / 2);
    pack(lines.slice(0, half));
    pack(lines.slice(half));
  };
  let chunk: string[] = [];
  let bytes = 0;
  for (const line of report.lines) {
    chunk.push(line);
    bytes += line.length + 1;
    if (bytes >= rawPartBytes) {
      pack(chunk);
      chunk = [];
      bytes = 0;
    }
  }
  pack(chunk);
  return parts.length ? parts : [gzipSync('')];
}

function dropLines(report: FailureReport, lines: string[]): void {
  const named = lines.filter((l) => l.includes('"key":')).length;
  report.named -= named;
  report.cut += named;
}

/** Part 1 is `<job>-failures` (with the summary), part n `<job>-failures-n`. */
export function reportPartName(jobName: string, part: number): string {
  return part === 1 ? failureReportName(jobName) : `${failureReportName(jobName)}-${part}`;
}

function configMaps(job: ReplicationJob, report: FailureReport): k8s.V1ConfigMap[] {
  const { name, namespace, uid } = job.metadata!;
  const parts = compressReport(report);
  const summary = { failed: report.failed, named: report.named, leftOut: report.cut, parts: parts.length };
  return parts.map((gz, i) => ({
    metadata: {
      name: reportPartName(name!, i + 1),
      namespace,
      labels: { [failureReportLabel]: name! },
      ownerReferences: [
        { apiVersion: job.apiVersion!, kind: job.kind!, name: name!, uid: uid!, controller: true },
      ],
    },
    data: { summary: JSON.stringify(summary), part: `${i + 1} of ${parts.length}` },
    binaryData: { 'failures.jsonl.gz': gz.toString('base64') },
  }));
}

/**
 * Writes (or replaces) the job's failure report from its ledger; returns the
 * ConfigMap's name, or undefined when it could not be written (logged: the
 * job still ends Failed, with its status naming up to 100 failures).
 */
export async function writeFailureReport(
  core: k8s.CoreV1Api,
  job: ReplicationJob,
  ledger: TaskLedger,
  log: Logger,
): Promise<string | undefined> {
  try {
    return await replaceReport(core, job, ledger);
  } catch (err) {
    log.warn('could not write the failure report', { error: String(err) });
    return undefined;
  }
}

async function replaceReport(core: k8s.CoreV1Api, job: ReplicationJob, ledger: TaskLedger): Promise<string> {
  const bodies = configMaps(job, await buildFailureReport(ledger.failureReport()));
  for (const body of bodies) await writePart(core, job, body);
  return bodies[0]!.metadata!.name!;
}

/**
 * Creates a part of the report, or replaces the one this job wrote before. A
 * ConfigMap of that name that the job does not own is the user's: it is never
 * overwritten (the report is then not written, and the log says why).
 */
async function writePart(core: k8s.CoreV1Api, job: ReplicationJob, body: k8s.V1ConfigMap): Promise<void> {
  const { name, namespace } = body.metadata as { name: string; namespace: string };
  try {
    await core.createNamespacedConfigMap({ namespace, body });
    return;
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
  const existing = await core.readNamespacedConfigMap({ name, namespace });
  const owned = existing.metadata?.ownerReferences?.some((o) => o.uid === job.metadata!.uid);
  if (!owned)
    throw new Error(`ConfigMap ${namespace}/${name} exists and is not this job's: it is left as it is`);
  const replacement = {
    ...body,
    metadata: { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion },
  };
  await core.replaceNamespacedConfigMap({ name, namespace, body: replacement });
}
