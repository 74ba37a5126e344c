/**
 * Prometheus metrics (prom-client), one registry per gateway so several gateways can live in one
 * process (tests). Labels are bounded: route names, methods and statuses come from small fixed
 * sets, upstream names from config; nothing user-controlled and never a secret.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Which endpoint a request hit, as a metric label. */
export type RouteLabel = 'info-refs' | 'upload-pack' | 'receive-pack' | 'healthz' | 'readyz' | 'metrics' | 'api' | 'rejected';

/** The gateway's metrics. */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly duration: Histogram<'route' | 'method'>;
  readonly bytesIn: Counter<'route'>;
  readonly bytesOut: Counter<'route'>;
  readonly inFlight: Gauge<'route'>;
  readonly upstreamErrors: Counter<'upstream' | 'code'>;
  readonly auditWriteFailures: Counter<'kind'>;
  readonly authFailures: Counter<'code'>;
  readonly mirrorFetches: Counter<'reason' | 'result'>;
  readonly policyDecisions: Counter<'decision'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'pushgate_' });
    this.requests = new Counter({
      name: 'pushgate_http_requests_total',
      help: 'HTTP requests served, by route, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'pushgate_http_request_duration_seconds',
      help: 'Time from a request arriving to its answer being complete.',
      labelNames: ['route', 'method'],
      // git requests range from a few ms (ref advertisement) to many minutes (a large clone).
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.bytesIn = new Counter({ name: 'pushgate_http_request_bytes_total', help: 'Request body bytes received from clients.', labelNames: ['route'], registers });
    this.bytesOut = new Counter({ name: 'pushgate_http_response_bytes_total', help: 'Response body bytes sent to clients.', labelNames: ['route'], registers });
    this.inFlight = new Gauge({ name: 'pushgate_http_requests_in_flight', help: 'Requests being served.', labelNames: ['route'], registers });
    this.upstreamErrors = new Counter({
      name: 'pushgate_upstream_errors_total',
      help: 'Failures talking to an upstream, by upstream and error code.',
      labelNames: ['upstream', 'code'],
      registers,
    });
    this.auditWriteFailures = new Counter({
      name: 'pushgate_audit_write_failures_total',
      help: 'Audit events that could not be written to the store.',
      labelNames: ['kind'],
      registers,
    });
    this.authFailures = new Counter({ name: 'pushgate_auth_failures_total', help: 'Requests refused by authentication, by code.', labelNames: ['code'], registers });
    this.mirrorFetches = new Counter({
      name: 'pushgate_mirror_fetches_total',
      help: 'git fetches into upstream mirrors, by reason (push, prefetch, refresh) and result (ok, failed).',
      labelNames: ['reason', 'result'],
      registers,
    });
    this.policyDecisions = new Counter({
      name: 'pushgate_policy_decisions_total',
      help: 'Policy decisions about inspected pushes: allow, deny, hold.',
      labelNames: ['decision'],
      registers,
    });
  }
}

/** The method as a bounded label. */
export function methodLabel(method: string): string {
  return method === 'GET' || method === 'POST' || method === 'HEAD' ? method : 'other';
}
