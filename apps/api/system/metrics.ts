import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of the API process, served at GET /metrics. */
@Injectable()
export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'switchyard_http_requests_total',
    help: 'HTTP requests by route and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'switchyard_http_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });

  readonly operationsStarted = new Counter({
    name: 'switchyard_operations_started_total',
    help: 'Operations started through the API, by kind and app',
    labelNames: ['kind', 'app'] as const,
    registers: [this.registry],
  });

  /** Refusals of requests without a principal: every one is counted, few are audited (docs/approvals-and-audit.md). */
  readonly anonymousRefused = new Counter({
    name: 'switchyard_http_anonymous_refused_total',
    help: 'Requests refused without an authenticated principal (each counted; the audit log keeps a sample)',
    registers: [this.registry],
  });

  /** Audit events that could not be written: `request` ones refuse the request (503), the rest are logged. */
  readonly auditAppendFailures = new Counter({
    name: 'switchyard_audit_append_failures_total',
    help: 'Audit events the API could not write, by kind (request, result, refusal, sample)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  /** Errors no request handler caught (apps/api/process-guard.ts); any is a bug to report. */
  readonly processErrors = new Counter({
    name: 'switchyard_api_process_errors_total',
    help: 'Unhandled promise rejections and uncaught exceptions in the API process, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'switchyard_api_' });
  }
}
