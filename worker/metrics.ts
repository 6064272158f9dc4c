// What a worker pod tells Prometheus (GET /metrics on its port): how much it
// moved, how long its tasks took, what failed and how, and what it is doing
// now. Source workers count what they send and the tasks they run;
// destination workers count what they commit and delete.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type TransferErrorClass = 'retryable' | 'permanent';

export class WorkerMetrics {
  readonly bytes: Counter<'direction'>;
  readonly objects: Counter<'operation'>;
  readonly taskDuration: Histogram<'kind' | 'outcome'>;
  readonly errors: Counter<'kind' | 'code'>;
  readonly tasksInFlight: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.bytes = new Counter({
      name: 'ferry_worker_bytes_total',
      help: 'Object bytes moved: sent by a source worker, committed by a destination worker.',
      labelNames: ['direction'],
      registers,
    });
    this.objects = new Counter({
      name: 'ferry_worker_objects_total',
      help: 'Objects handled: copied (source) or committed/deleted (destination); a large object counts once, when complete.',
      labelNames: ['operation'],
      registers,
    });
    this.taskDuration = new Histogram({
      name: 'ferry_worker_task_duration_seconds',
      help: 'Wall time of the tasks a source worker ran, by task kind and outcome.',
      labelNames: ['kind', 'outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.errors = new Counter({
      name: 'ferry_worker_errors_total',
      help: 'Failed objects and requests, by error class (retryable or permanent) and code.',
      labelNames: ['kind', 'code'],
      registers,
    });
    this.tasksInFlight = new Gauge({
      name: 'ferry_worker_tasks_in_flight',
      help: 'Tasks a source worker holds right now.',
      registers,
    });
  }

  failed(kind: TransferErrorClass, code: string, count = 1): void {
    this.errors.inc({ kind, code }, count);
  }
}
