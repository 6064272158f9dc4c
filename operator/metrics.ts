// The operator's Prometheus metrics, on its own registry.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'ferry_reconcile_total',
    help: 'Reconciles of ReplicationJobs, by outcome (success, error).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'ferry_reconcile_duration_seconds',
    help: 'Time one reconcile of a ReplicationJob takes.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly jobsByPhase = new Gauge({
    name: 'ferry_jobs',
    help: 'ReplicationJobs known to the operator, by phase.',
    labelNames: ['phase'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'ferry_leader',
    help: '1 while this operator replica holds the leader lease.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'ferry_operator_' });
  }
}
